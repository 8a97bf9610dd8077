package tftp

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		name    string
		pkt     []byte
		want    request
		wantErr error
	}{
		{"rrq", []byte("\x00\x01pxelinux.0\x00octet\x00"),
			request{op: opRRQ, file: "pxelinux.0", mode: "octet"}, nil},
		{"wrq", []byte("\x00\x02up\x00octet\x00"), request{op: opWRQ, file: "up", mode: "octet"}, nil},
		{"netascii, mode case", []byte("\x00\x01a.txt\x00NetASCII\x00"),
			request{op: opRRQ, file: "a.txt", mode: "netascii"}, nil},
		{"options lower-cased, values kept", []byte("\x00\x01f\x00octet\x00BlkSize\x001468\x00tsize\x000\x00X\x00Y\x00"),
			request{op: opRRQ, file: "f", mode: "octet", opts: []option{{"blksize", "1468"}, {"tsize", "0"}, {"x", "Y"}}}, nil},
		{"NUL padding ignored", []byte("\x00\x01f\x00octet\x00tsize\x000\x00\x00\x00\x00\x00"),
			request{op: opRRQ, file: "f", mode: "octet", opts: []option{{"tsize", "0"}}}, nil},
		{"option without value ignored", []byte("\x00\x01f\x00octet\x00tsize\x00"),
			request{op: opRRQ, file: "f", mode: "octet"}, nil},
		{"unterminated option ignored", []byte("\x00\x01f\x00octet\x00tsize\x000"),
			request{op: opRRQ, file: "f", mode: "octet"}, nil},
		{"name kept raw", []byte("\x00\x01/a\\..\\b\x00octet\x00"),
			request{op: opRRQ, file: `/a\..\b`, mode: "octet"}, nil},
		{"mail mode", []byte("\x00\x01f\x00mail\x00"), request{op: opRRQ, file: "f", mode: "mail"}, errBadMode},
		{"empty", nil, request{}, errMalformed},
		{"one byte", []byte{0}, request{}, errMalformed},
		{"opcode only", []byte{0, 1}, request{}, errMalformed},
		{"DATA", []byte("\x00\x03\x00\x01data"), request{}, errMalformed},
		{"OACK", []byte("\x00\x06a\x00b\x00"), request{}, errMalformed},
		{"no NUL", []byte("\x00\x01file"), request{}, errMalformed},
		{"no mode", []byte("\x00\x01file\x00"), request{}, errMalformed},
		{"mode without NUL", []byte("\x00\x01file\x00octet"), request{}, errMalformed},
		{"empty name", []byte("\x00\x01\x00octet\x00"), request{}, errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRequest(tt.pkt)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if got.op != tt.want.op || got.file != tt.want.file || got.mode != tt.want.mode || !slices.Equal(got.opts, tt.want.opts) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzParseRequest: the parser never panics, and what it accepts survives a
// round trip through the wire format.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("\x00\x01pxelinux.0\x00octet\x00"))
	f.Add([]byte("\x00\x01undionly.kpxe\x00octet\x00blksize\x001468\x00tsize\x000\x00windowsize\x004\x00"))
	f.Add([]byte("\x00\x02f\x00netascii\x00"))
	f.Add([]byte("\x00\x01f\x00mail\x00"))
	f.Add([]byte("\x00\x01../../etc/passwd\x00octet\x00\x00\x00"))
	f.Add([]byte{0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseRequest(b)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		if req.file == "" || strings.ContainsRune(req.file, 0) || (req.mode != "octet" && req.mode != "netascii") {
			t.Fatalf("accepted %+v", req)
		}
		var opts []string
		for _, o := range req.opts {
			opts = append(opts, o.name, o.value)
		}
		again, err := parseRequest(requestPacket(req.op, req.file, req.mode, opts...))
		if err != nil || again.file != req.file || again.mode != req.mode || !slices.Equal(again.opts, req.opts) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, req)
		}
		if name, err := cleanName(req.file); err == nil && (strings.HasPrefix(name, "/") || slices.Contains(strings.Split(name, "/"), "..")) {
			t.Fatalf("cleanName(%q) = %q", req.file, name)
		}
	})
}

func TestParseReply(t *testing.T) {
	if r, ok := parseReply(ackPacket(65535)); !ok || r.op != opACK || r.block != 65535 {
		t.Errorf("ACK: %+v %v", r, ok)
	}
	r, ok := parseReply([]byte("\x00\x05\x00\x08no options")) // no NUL: still an error
	if !ok || r.err == nil || r.err.Code != 8 || r.err.Message != "no options" {
		t.Errorf("ERROR: %+v %v", r, ok)
	}
	for _, p := range [][]byte{nil, {0, 4, 0}, []byte("\x00\x03\x00\x01x"), []byte("\x00\x01f\x00octet\x00")} {
		if _, ok := parseReply(p); ok {
			t.Errorf("parseReply(%q) accepted", p)
		}
	}
}

func TestEncode(t *testing.T) {
	if got := encodeError(codeNotFound, "file not found: x"); string(got) != "\x00\x05\x00\x01file not found: x\x00" {
		t.Errorf("encodeError: %q", got)
	}
	if got := encodeOACK([]option{{"blksize", "1468"}, {"tsize", "0"}}); string(got) != "\x00\x06blksize\x001468\x00tsize\x000\x00" {
		t.Errorf("encodeOACK: %q", got)
	}
	b := make([]byte, 4)
	for _, tt := range []struct {
		block int64
		want  string
	}{{1, "\x00\x03\x00\x01"}, {65535, "\x00\x03\xff\xff"}, {65536, "\x00\x03\x00\x00"}, {65537 + 65536, "\x00\x03\x00\x01"}} {
		if putDataHeader(b, tt.block); string(b) != tt.want {
			t.Errorf("putDataHeader(%d) = %q, want %q", tt.block, b, tt.want)
		}
	}
}

func TestCleanName(t *testing.T) {
	ok := map[string]string{
		"pxelinux.0":         "pxelinux.0",
		"efi/ipxe.efi":       "efi/ipxe.efi",
		`efi\ipxe.efi`:       "efi/ipxe.efi",
		"./a//b/./c":         "a/b/c",
		"a/":                 "a",
		"..a/b..":            "..a/b..",
		"smartos/os/x/y.tgz": "smartos/os/x/y.tgz",
		// GRUB's names are absolute within its (tftp,server) device.
		"/debian-installer/amd64/grub/grub.cfg": "debian-installer/amd64/grub/grub.cfg",
		`\pxelinux.0`:                           "pxelinux.0",
		"//pxelinux.0":                          "pxelinux.0",
	}
	for in, want := range ok {
		if got, err := cleanName(in); err != nil || got != want {
			t.Errorf("cleanName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"/", "/../x", "..", "../x", "a/../../x", `a\..\x`, "a/..", ".", "./", "\xff"} {
		if got, err := cleanName(in); !errors.Is(err, ErrBadName) {
			t.Errorf("cleanName(%q) = %q, %v; want ErrBadName", in, got, err)
		}
	}
}

func TestNetascii(t *testing.T) {
	for in, want := range map[string]string{
		"":              "",
		"plain":         "plain",
		"a\nb\n":        "a\r\nb\r\n",
		"dos\r\n":       "dos\r\x00\r\n",
		"\r":            "\r\x00",
		"\n\n\r\r":      "\r\n\r\n\r\x00\r\x00",
		"bin\x00\xff\n": "bin\x00\xff\r\n",
	} {
		// One byte at a time, so that a pending byte crosses every Read.
		got, err := io.ReadAll(iotest.OneByteReader(newNetasciiReader(strings.NewReader(in))))
		if err != nil || string(got) != want {
			t.Errorf("netascii(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestWindowBuffer: a stream's blocks can be reread back to one window.
func TestWindowBuffer(t *testing.T) {
	data := pattern(10*8 + 5)
	w := &windowBuffer{r: iotest.HalfReader(bytes.NewReader(data)), blocks: make([][]byte, 3), lens: make([]int, 3)}
	p := make([]byte, 8)
	read := func(k int64) []byte {
		t.Helper()
		n, err := w.readBlock(k, p)
		if err != nil {
			t.Fatalf("block %d: %v", k, err)
		}
		return p[:n]
	}
	for _, k := range []int64{1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 6, 7, 5, 6, 7, 8, 9, 10, 11, 9, 10, 11, 12} {
		start := min(int64(len(data)), (k-1)*8)
		if want := data[start:min(int64(len(data)), k*8)]; !bytes.Equal(read(k), want) {
			t.Fatalf("block %d: got %q, want %q", k, p, want)
		}
	}
	for _, k := range []int64{9, 14, 0} { // 9 fell out of the window; 14 skips 13
		if _, err := w.readBlock(k, p); err == nil {
			t.Errorf("block %d: no error", k)
		}
	}
	bad := &windowBuffer{r: iotest.ErrReader(errors.New("disk on fire")), blocks: make([][]byte, 1), lens: make([]int, 1)}
	if _, err := bad.readBlock(1, p); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("read error: %v", err)
	}
}
