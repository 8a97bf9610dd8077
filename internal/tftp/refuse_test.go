package tftp

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

func TestRefused(t *testing.T) {
	files := fstest.MapFS{
		"ok.txt":     {Data: []byte("fine")},
		"dir/a.txt":  {Data: []byte("a")},
		"etc/passwd": {Data: []byte("inside the root, but asked for wrongly")},
	}
	tests := []struct {
		name     string
		op       uint16
		file     string
		wantCode uint16
		wantErr  error
		wantMsg  string
	}{
		{"write request", opWRQ, "ok.txt", codeAccess, ErrReadOnly, "read-only"},
		{"write request of a new file", opWRQ, "new.txt", codeAccess, ErrReadOnly, "read-only"},
		// An absolute name is read from the root ("/ok.txt" is ok.txt, as
		// GRUB asks), so it can climb out no more than a relative one.
		{"absolute path out", opRRQ, "/../etc/passwd", codeAccess, ErrBadName, `".."`},
		{"absolute backslash path out", opRRQ, `\..\etc\passwd`, codeAccess, ErrBadName, `".."`},
		{"dot dot", opRRQ, "../ok.txt", codeAccess, ErrBadName, `".."`},
		{"dot dot inside", opRRQ, "dir/../../ok.txt", codeAccess, ErrBadName, `".."`},
		{"dot dot that cleans inside", opRRQ, "dir/../ok.txt", codeAccess, ErrBadName, `".."`},
		{"backslash traversal", opRRQ, `..\..\etc\passwd`, codeAccess, ErrBadName, `".."`},
		{"root itself", opRRQ, ".", codeAccess, ErrBadName, "not a valid"},
		{"invalid utf-8", opRRQ, "a\xff", codeAccess, ErrBadName, "not a valid"},
		{"not found", opRRQ, "missing.efi", codeNotFound, fs.ErrNotExist, "not found: missing.efi"},
		{"directory", opRRQ, "dir", codeAccess, errNotRegular, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, &Server{Root: files})
			c := newClient(t, ts.addr)
			c.sendTo(ts.addr, requestPacket(tt.op, tt.file, "octet", "tsize", "0"))
			code, msg := c.readError()
			if code != tt.wantCode || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("ERROR %d %q, want %d containing %q", code, msg, tt.wantCode, tt.wantMsg)
			}
			tr := ts.transfer(t)
			if !errors.Is(tr.Err, tt.wantErr) {
				t.Errorf("reported error %v, want %v", tr.Err, tt.wantErr)
			}
			if st := ts.srv.Stats(); st.Failed != 1 || st.Requests != 1 || st.Transfers != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestSymlinks serves a directory through os.OpenRoot, which refuses links
// that leave it.
func TestSymlinks(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	must(t, os.MkdirAll(filepath.Join(root, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("outside"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "sub", "real.efi"), []byte("inside"), 0o644))
	must(t, os.Symlink("../secret", filepath.Join(root, "escape")))
	must(t, os.Symlink(dir, filepath.Join(root, "up")))
	must(t, os.Symlink("sub/real.efi", filepath.Join(root, "inside.efi")))
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })

	ts := startServer(t, &Server{Root: r.FS()})
	for _, name := range []string{"escape", "up/secret"} {
		c := newClient(t, ts.addr)
		c.rrq(name, "octet")
		if code, msg := c.readError(); code != codeNotFound && code != codeAccess {
			t.Errorf("%s: ERROR %d %q, want 1 or 2", name, code, msg)
		}
		if tr := ts.transfer(t); tr.Err == nil {
			t.Errorf("%s: reported no error", name)
		}
	}
	c := newClient(t, ts.addr)
	if res := c.get("inside.efi", getOptions{}); string(res.data) != "inside" {
		t.Errorf("link inside the root: got %q", res.data)
	}
	if tr := ts.transfer(t); tr.Err != nil {
		t.Errorf("link inside the root: %v", tr.Err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestMalformedCounted(t *testing.T) {
	ts := startServer(t, &Server{Root: fstest.MapFS{"f": {Data: []byte("x")}}})
	c := newClient(t, ts.addr)
	bad := [][]byte{
		{},
		{0},
		{0, 1},
		ackPacket(1),           // not a request
		{0, 3, 0, 1, 'h', 'i'}, // DATA
		{0, 9, 'f', 0, 'o', 'c', 't', 'e', 't', 0}, // unknown opcode
		append([]byte{0, 1}, "f"...),               // no NUL
		append([]byte{0, 1}, "f\x00octet"...),      // mode without NUL
		append([]byte{0, 1}, "\x00octet\x00"...),   // empty file name
	}
	for _, p := range bad {
		c.sendTo(ts.addr, p)
	}
	// A well-formed request in an unknown mode is counted and answered.
	c.sendTo(ts.addr, requestPacket(opRRQ, "f", "mail"))
	if code, msg := c.readError(); code != codeIllegalOp || !strings.Contains(msg, "mode") {
		t.Errorf("mail mode: ERROR %d %q, want 4", code, msg)
	}
	// The server handles its port's packets in order: once this transfer is
	// done, every packet above has been counted.
	c2 := newClient(t, ts.addr)
	c2.get("f", getOptions{})
	ts.transfer(t)
	if st := ts.srv.Stats(); st.Malformed != int64(len(bad)+1) || st.Requests != 1 || st.Transfers != 1 {
		t.Errorf("stats %+v, want %d malformed, 1 request, 1 transfer", st, len(bad)+1)
	}
}

func TestOverride(t *testing.T) {
	script := []byte("#!ipxe\nchain http://boot/menu.ipxe\n")
	// UDP gives the race detector no happens-before edge: guard the hook's state.
	var mu sync.Mutex
	var asked []string
	var wantClient netip.AddrPort
	s := &Server{Root: fstest.MapFS{"undionly.kpxe": {Data: pattern(2000)}, "other": {Data: []byte("root")}}}
	s.Override = func(client netip.AddrPort, name string) ([]byte, bool) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, name)
		if client != wantClient || name != "undionly.kpxe" {
			return nil, false
		}
		return script, true
	}
	ts := startServer(t, s)

	c := newClient(t, ts.addr)
	mu.Lock()
	wantClient = c.addr()
	mu.Unlock()
	res := c.get("undionly.kpxe", getOptions{opts: []string{"tsize", "0"}})
	if string(res.data) != string(script) || res.oack["tsize"] != strconv.Itoa(len(script)) {
		t.Errorf("got %q, tsize %q; want the script and its size", res.data, res.oack["tsize"])
	}
	if tr := ts.transfer(t); !tr.Overridden || tr.Err != nil || tr.Size != int64(len(script)) || tr.File != "undionly.kpxe" {
		t.Errorf("reported %+v, want Overridden", tr)
	}

	// Another client, and another file, get the Root's content.
	c2 := newClient(t, ts.addr)
	if res := c2.get("undionly.kpxe", getOptions{}); len(res.data) != 2000 {
		t.Errorf("other client got %d bytes, want the 2000-byte file", len(res.data))
	}
	if tr := ts.transfer(t); tr.Overridden {
		t.Error("other client reported Overridden")
	}
	c3 := newClient(t, ts.addr)
	if res := c3.get("./other", getOptions{}); string(res.data) != "root" {
		t.Errorf("other file: got %q", res.data)
	}
	ts.transfer(t)
	// The hook sees cleaned names only, and never a refused one.
	c3.tid = netip.AddrPort{}
	c3.rrq("../undionly.kpxe", "octet")
	c3.readError()
	ts.transfer(t)
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(asked, ",") != "undionly.kpxe,undionly.kpxe,other" {
		t.Errorf("Override asked for %q", asked)
	}
}

// TestOverrideWithoutRoot: a zero Server with only an Override works.
func TestOverrideWithoutRoot(t *testing.T) {
	ts := startServer(t, &Server{Override: func(netip.AddrPort, string) ([]byte, bool) { return []byte("x"), true }})
	c := newClient(t, ts.addr)
	if res := c.get("any", getOptions{}); string(res.data) != "x" {
		t.Errorf("got %q", res.data)
	}
	ts2 := startServer(t, &Server{})
	c2 := newClient(t, ts2.addr)
	c2.rrq("any", "octet")
	if code, _ := c2.readError(); code != codeNotFound {
		t.Errorf("zero Server: ERROR %d, want 1", code)
	}
}
