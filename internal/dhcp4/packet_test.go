package dhcp4

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestPacketRoundTrip(t *testing.T) {
	p := newReq(Discover, edk2, withCIAddr(netip.MustParseAddr("10.0.0.9")))
	p.Hops, p.Flags = 1, FlagBroadcast
	p.YIAddr = netip.MustParseAddr("10.0.0.10")
	p.SIAddr = netip.MustParseAddr("10.0.0.1")
	p.GIAddr = netip.MustParseAddr("10.0.0.254")
	p.SName, p.File = "boot-server", "undionly.kpxe"
	p.Options[OptIPXE] = []byte{} // present, empty
	b := p.Marshal()
	if len(b) < minBOOTPLen {
		t.Errorf("marshalled %d bytes, want at least %d", len(b), minBOOTPLen)
	}
	if b[headerLen+4] != OptMessageType {
		t.Errorf("first option is %d, want 53", b[headerLen+4])
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, p) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, p)
	}
}

func TestPacketZeroAddrsAndTruncation(t *testing.T) {
	p := &Packet{Op: OpReply, CHAddr: testMAC, Options: Options{},
		SName: strings.Repeat("s", 80), File: strings.Repeat("f", 200)}
	got, err := Parse(p.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []netip.Addr{got.CIAddr, got.YIAddr, got.SIAddr, got.GIAddr} {
		if a != netip.IPv4Unspecified() {
			t.Errorf("zero Addr marshalled as %v, want 0.0.0.0", a)
		}
	}
	if len(got.SName) != 63 || len(got.File) != 127 {
		t.Errorf("sname %d and file %d bytes, want 63 and 127 (NUL-terminated)", len(got.SName), len(got.File))
	}
}

func TestPacketLongOptionSplit(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 600)
	p := &Packet{Op: OpReply, Options: Options{OptBootFile: long}}
	b := p.Marshal()
	// 600 bytes = 255 + 255 + 90: three option 67 instances (RFC 3396).
	if n := bytes.Count(b, []byte{OptBootFile, 255}); n != 2 {
		t.Errorf("found %d full-length option 67 parts, want 2", n)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Options.Get(OptBootFile), long) {
		t.Errorf("concatenated option is %d bytes, want 600", len(got.Options.Get(OptBootFile)))
	}
}

// raw builds a packet by hand: header fields from p, then the given option
// bytes verbatim (no End added).
func raw(p *Packet, opts ...byte) []byte {
	q := *p
	q.Options = Options{}
	b := q.Marshal()[:headerLen+4]
	return append(b, opts...)
}

func TestParseOverloadAndConcatenation(t *testing.T) {
	base := newReq(Discover)
	b := raw(base, OptOverload, 1, 3, OptVendorClass, 3, 'P', 'X', 'E', OptEnd)
	copy(b[108:], []byte{OptVendorClass, 6, 'C', 'l', 'i', 'e', 'n', 't', OptEnd})     // file
	copy(b[44:], []byte{OptBootFile, 4, 'b', 'o', 'o', 't', OptPad, OptEnd, 'z', 'z'}) // sname
	p, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(p.Options.Get(OptVendorClass)); got != "PXEClient" {
		t.Errorf("vendor class = %q, want the options field then the file field concatenated", got)
	}
	if got := string(p.Options.Get(OptBootFile)); got != "boot" {
		t.Errorf("option 67 from sname = %q", got)
	}
	if p.File != "" || p.SName != "" {
		t.Errorf("overloaded fields kept as strings: file %q sname %q", p.File, p.SName)
	}
}

func TestParseErrors(t *testing.T) {
	good := newReq(Discover, edk2).Marshal()
	noCookie := append([]byte(nil), good...)
	noCookie[headerLen] = 0
	longHlen := append([]byte(nil), good...)
	longHlen[2] = 17
	tests := map[string][]byte{
		"empty":                 nil,
		"short header":          good[:200],
		"no magic cookie":       noCookie,
		"hlen over 16":          longHlen,
		"option without length": raw(newReq(Discover), OptVendorClass),
		"option past the end":   raw(newReq(Discover), OptVendorClass, 9, 'P', 'X'),
		"bad overload in file":  overloadedFile([]byte{OptBootFile, 200}),
	}
	for name, b := range tests {
		if p, err := Parse(b); err == nil {
			t.Errorf("%s: Parse = %+v, want an error", name, p)
		}
	}
}

func overloadedFile(file []byte) []byte {
	b := raw(newReq(Discover), OptOverload, 1, 1, OptEnd)
	copy(b[108:236], file)
	return b
}

func TestParseLenient(t *testing.T) {
	// No End option, trailing pads: accepted.
	p, err := Parse(raw(newReq(Discover), OptMessageType, 1, 1, OptPad, OptPad))
	if err != nil {
		t.Fatal(err)
	}
	if p.MessageType() != Discover {
		t.Errorf("type = %v", p.MessageType())
	}
	// Bytes after End are ignored.
	p, err = Parse(raw(newReq(Discover), OptMessageType, 1, 3, OptEnd, 0xde, 0xad))
	if err != nil || p.MessageType() != Request {
		t.Errorf("Parse = %v, %v", p, err)
	}
}

func TestMessageTypeString(t *testing.T) {
	for mt, want := range map[MessageType]string{0: "BOOTP", Discover: "DISCOVER", Offer: "OFFER",
		Request: "REQUEST", Ack: "ACK", Inform: "INFORM", 42: "TYPE42"} {
		if mt.String() != want {
			t.Errorf("%d.String() = %q, want %q", uint8(mt), mt.String(), want)
		}
	}
	p := &Packet{Options: Options{OptMessageType: {1, 2}}}
	if p.MessageType() != 0 {
		t.Error("two-byte option 53 taken as a type")
	}
}
