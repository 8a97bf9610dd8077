package dhcp4

import (
	"net/netip"
	"reflect"
	"testing"
)

func TestUserClasses(t *testing.T) {
	tests := []struct {
		in   []byte
		want []string
	}{
		{nil, nil},
		{[]byte("iPXE"), []string{"iPXE"}}, // iPXE's plain string
		{[]byte{4, 'i', 'P', 'X', 'E'}, []string{"iPXE"}},  // RFC 3004
		{[]byte{2, 'a', 'b', 1, 'c'}, []string{"ab", "c"}}, // RFC 3004, two classes
		{[]byte{3, 'a', 'b'}, []string{"\x03ab"}},          // length overruns: plain
		{[]byte{0, 'a'}, []string{"\x00a"}},                // zero length: plain
		{[]byte{1, 'a', 9}, []string{"\x01a\x09"}},         // trailing junk: plain
		{[]byte("gPXE"), []string{"gPXE"}},                 // 'g' = 103 > len: plain
		{[]byte{4, 'g', 'P', 'X', 'E', 4, 'i', 'P', 'X', 'E'}, []string{"gPXE", "iPXE"}},
	}
	for _, tt := range tests {
		if got := UserClasses(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("UserClasses(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestArchTypes(t *testing.T) {
	tests := []struct {
		in   []byte
		want []uint16
	}{
		{nil, nil},
		{[]byte{0}, nil},
		{[]byte{0, 7}, []uint16{7}},
		{[]byte{0, 16, 0, 7}, []uint16{16, 7}},
		{[]byte{0, 11, 9}, []uint16{11}}, // odd trailing byte ignored
		{[]byte{1, 0}, []uint16{256}},
	}
	for _, tt := range tests {
		if got := ArchTypes(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ArchTypes(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestServerIDAndRequestedIP(t *testing.T) {
	a := netip.MustParseAddr("10.250.0.1")
	p := newReq(Request, withServerID(a), withRequestedIP(netip.MustParseAddr("10.250.0.6")))
	if p.ServerID() != a || p.RequestedIP() != netip.MustParseAddr("10.250.0.6") {
		t.Errorf("ServerID %v, RequestedIP %v", p.ServerID(), p.RequestedIP())
	}
	p = newReq(Request, withRequestedIP(netip.IPv4Unspecified()))
	p.Options[OptServerID] = []byte{10, 250}
	if p.ServerID().IsValid() || p.RequestedIP().IsValid() {
		t.Errorf("short option 54 or 0.0.0.0 in option 50 read as %v, %v", p.ServerID(), p.RequestedIP())
	}
}
