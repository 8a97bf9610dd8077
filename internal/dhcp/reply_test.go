package dhcp

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"rackboot/internal/boot"
	"rackboot/internal/pxe"
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

func TestClientAddr(t *testing.T) {
	a, b := netip.MustParseAddr("10.250.0.7"), netip.MustParseAddr("10.250.0.8")
	tests := []struct {
		name string
		p    *Packet
		want netip.Addr
	}{
		{"nothing", newReq(Discover), netip.Addr{}},
		{"option 50", newReq(Request, withRequestedIP(a)), a},
		{"option 50 wins over ciaddr", newReq(Request, withRequestedIP(a), withCIAddr(b)), a},
		{"ciaddr", newReq(Request, withCIAddr(b)), b},
		{"0.0.0.0 in option 50 falls back", newReq(Request, withRequestedIP(netip.IPv4Unspecified()), withCIAddr(b)), b},
		{"short option 50", func() *Packet { p := newReq(Request); p.Options[OptRequestedIP] = []byte{10}; return p }(), netip.Addr{}},
	}
	for _, tt := range tests {
		if got := ClientAddr(tt.p); got != tt.want {
			t.Errorf("%s: ClientAddr = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBuildReply(t *testing.T) {
	cfg := testBootConfig()
	ciaddr := netip.MustParseAddr("10.250.0.50")
	relay := netip.MustParseAddr("10.250.9.1")
	tests := []struct {
		name      string
		req       *Packet
		wantType  MessageType
		wantFile  string // in 'file'; option 67 always holds the full name
		wantOpt67 string
		wantVC    string
		want43    bool
	}{
		{
			name: "EDK2 DISCOVER gets snponly.efi", req: newReq(Discover, edk2, withBroadcastFlag),
			wantType: Offer, wantFile: "snponly.efi", wantOpt67: "snponly.efi", wantVC: "PXEClient", want43: true,
		},
		{
			name: "ProxyDHCPREQUEST on 4011 gets an ACK", req: newReq(Request, edk2, withCIAddr(ciaddr)),
			wantType: Ack, wantFile: "snponly.efi", wantOpt67: "snponly.efi", wantVC: "PXEClient", want43: true,
		},
		{
			name: "iPXE gets its menu URL", req: newReq(Discover, ipxeBIOS),
			wantType: Offer, wantVC: "PXEClient", want43: true,
			wantFile:  "http://10.250.0.1:8080/boot.ipxe?mac=52:54:00:12:34:56&arch=bios",
			wantOpt67: "http://10.250.0.1:8080/boot.ipxe?mac=52:54:00:12:34:56&arch=bios",
		},
		{
			name: "HTTP boot gets HTTPClient and a URL, no PXE options", req: newReq(Discover, httpBoot),
			wantType: Offer, wantVC: "HTTPClient",
			wantFile: "http://10.250.0.1:8080/snponly.efi", wantOpt67: "http://10.250.0.1:8080/snponly.efi",
		},
		{
			name: "relayed request keeps giaddr",
			req:  newReq(Discover, edk2, func(p *Packet) { p.GIAddr = relay }), wantType: Offer,
			wantFile: "snponly.efi", wantOpt67: "snponly.efi", wantVC: "PXEClient", want43: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := cfg.Decide(classify(tt.req))
			r, err := BuildReply(tt.req, d, testServerIP)
			if err != nil {
				t.Fatal(err)
			}
			// Round-trip through the wire format: what the client sees.
			r, err = Parse(r.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if r.Op != OpReply || r.MessageType() != tt.wantType {
				t.Errorf("op %d type %v, want reply %v", r.Op, r.MessageType(), tt.wantType)
			}
			wantGI := tt.req.GIAddr
			if !wantGI.IsValid() {
				wantGI = netip.IPv4Unspecified()
			}
			if r.XID != tt.req.XID || r.Flags != tt.req.Flags || r.HType != tt.req.HType ||
				r.GIAddr != wantGI || !bytes.Equal(r.CHAddr, tt.req.CHAddr) {
				t.Errorf("xid/flags/htype/giaddr/chaddr not copied: %+v", r)
			}
			if r.YIAddr != netip.IPv4Unspecified() {
				t.Errorf("yiaddr = %v, a proxy leases nothing", r.YIAddr)
			}
			wantCI := netip.IPv4Unspecified()
			if tt.wantType == Ack && tt.req.CIAddr.IsValid() {
				wantCI = tt.req.CIAddr
			}
			if r.CIAddr != wantCI {
				t.Errorf("ciaddr = %v, want %v", r.CIAddr, wantCI)
			}
			if r.SIAddr != testServerIP {
				t.Errorf("siaddr = %v, want %v", r.SIAddr, testServerIP)
			}
			if got := r.Options.Get(OptServerID); !bytes.Equal(got, testServerIP.AsSlice()) {
				t.Errorf("option 54 = %v", got)
			}
			if r.File != tt.wantFile || string(r.Options.Get(OptBootFile)) != tt.wantOpt67 || r.SName != "" {
				t.Errorf("file %q option 67 %q sname %q", r.File, r.Options.Get(OptBootFile), r.SName)
			}
			if got := string(r.Options.Get(OptVendorClass)); got != tt.wantVC {
				t.Errorf("option 60 = %q, want %q", got, tt.wantVC)
			}
			if got := r.Options.Get(OptVendorSpecific); tt.want43 != (got != nil) ||
				tt.want43 && !bytes.Equal(got, []byte{6, 1, 8, 255}) {
				t.Errorf("option 43 = %x, want PXE_DISCOVERY_CONTROL=8: %v", got, tt.want43)
			}
			if got, sent := r.Options.Get(OptUUID), tt.req.Options.Get(OptUUID); !bytes.Equal(got, sent) {
				t.Errorf("option 97 = %x, client sent %x", got, sent)
			}
		})
	}
}

func TestBuildReplyLongURL(t *testing.T) {
	cfg := testBootConfig()
	cfg.HTTPBase = "http://rackboot-primary.provisioning.datacenter-one.example.org:8080/a/rather/deep/prefix"
	req := newReq(Discover, ipxeBIOS)
	d := cfg.Decide(classify(req))
	if len(d.BootFile) <= maxFileField {
		t.Fatalf("test URL too short: %d", len(d.BootFile))
	}
	r, err := BuildReply(req, d, testServerIP)
	if err != nil {
		t.Fatal(err)
	}
	if r.File != "" || string(r.Options.Get(OptBootFile)) != d.BootFile {
		t.Errorf("long name: file %q, option 67 %q; want only option 67", r.File, r.Options.Get(OptBootFile))
	}
}

func TestBuildReplyNextServer(t *testing.T) {
	other := netip.MustParseAddr("10.250.0.99")
	d := boot.Decision{Answer: true, BootFile: "undionly.kpxe", NextServer: other}
	r, err := BuildReply(newReq(Discover, edk2), d, testServerIP)
	if err != nil {
		t.Fatal(err)
	}
	if r.SIAddr != other || !bytes.Equal(r.Options.Get(OptServerID), testServerIP.AsSlice()) {
		t.Errorf("siaddr %v option 54 %v", r.SIAddr, r.Options.Get(OptServerID))
	}
}

func TestBuildReplyErrors(t *testing.T) {
	ok := boot.Decision{Answer: true, BootFile: "undionly.kpxe"}
	reply := newReq(Discover, edk2)
	reply.Op = OpReply
	tests := []struct {
		name     string
		req      *Packet
		d        boot.Decision
		serverIP netip.Addr
		want     string
	}{
		{"nil request", nil, ok, testServerIP, "BOOTREQUEST"},
		{"a reply", reply, ok, testServerIP, "BOOTREQUEST"},
		{"INFORM", newReq(Inform, edk2), ok, testServerIP, "not INFORM"},
		{"silent decision", newReq(Discover, edk2), boot.Decision{Reason: "no arm64"}, testServerIP, "no arm64"},
		{"no server IP", newReq(Discover, edk2), ok, netip.Addr{}, "not an IPv4"},
		{"IPv6 server IP", newReq(Discover, edk2), ok, netip.MustParseAddr("fd00::1"), "not an IPv4"},
		{"empty file", newReq(Discover, edk2), boot.Decision{Answer: true}, testServerIP, "want 1 to 255"},
		{"file too long", newReq(Discover, edk2), boot.Decision{Answer: true, BootFile: strings.Repeat("x", 256)}, testServerIP, "want 1 to 255"},
	}
	for _, tt := range tests {
		if _, err := BuildReply(tt.req, tt.d, tt.serverIP); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
}

func TestReplyDest(t *testing.T) {
	client := netip.MustParseAddr("10.250.0.50")
	bcast := netip.MustParseAddrPort("255.255.255.255:68")
	tests := []struct {
		name      string
		req       *Packet
		src       netip.AddrPort
		port      int
		broadcast netip.Addr
		want      netip.AddrPort
		wantErr   bool
	}{
		{"DISCOVER from a client without address", newReq(Discover, edk2), netip.MustParseAddrPort("0.0.0.0:68"), 67, netip.Addr{}, bcast, false},
		{"broadcast flag wins over ciaddr", newReq(Request, edk2, withCIAddr(client), withBroadcastFlag), netip.AddrPortFrom(client, 68), 67, netip.Addr{}, bcast, false},
		{"ciaddr without broadcast flag: unicast", newReq(Request, edk2, withCIAddr(client)), netip.AddrPortFrom(client, 68), 67, netip.Addr{}, netip.AddrPortFrom(client, 68), false},
		{"relayed: to the relay's port 67", newReq(Discover, edk2, func(p *Packet) { p.GIAddr = netip.MustParseAddr("10.9.0.1") }), netip.MustParseAddrPort("10.9.0.1:67"), 67, netip.Addr{}, netip.MustParseAddrPort("10.9.0.1:67"), false},
		{"platform broadcast address (FreeBSD)", newReq(Discover, edk2), netip.MustParseAddrPort("0.0.0.0:68"), 67, netip.MustParseAddr("10.250.0.255"), netip.MustParseAddrPort("10.250.0.255:68"), false},
		{"port 4011: back to the source", newReq(Request, edk2, withCIAddr(client)), netip.AddrPortFrom(client, 4011), 4011, netip.Addr{}, netip.AddrPortFrom(client, 4011), false},
		{"port 4011: mapped source unmapped", newReq(Request, edk2), netip.AddrPortFrom(netip.AddrFrom16(client.As16()), 68), 4011, netip.Addr{}, netip.AddrPortFrom(client, 68), false},
		{"port 4011 from 0.0.0.0", newReq(Request, edk2), netip.MustParseAddrPort("0.0.0.0:68"), 4011, netip.Addr{}, netip.AddrPort{}, true},
	}
	for _, tt := range tests {
		got, err := ReplyDest(tt.req, tt.src, tt.port, tt.broadcast)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: ReplyDest = %v, %v; want %v (error %v)", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRequestFromCopies(t *testing.T) {
	p := newReq(Discover, edk2)
	// The packet's own copies: edk2's option values are shared by every
	// test (and by every run of -count).
	p.CHAddr, p.Options[OptUUID] = bytes.Clone(p.CHAddr), bytes.Clone(p.Options[OptUUID])
	mac, uuid := bytes.Clone(p.CHAddr), bytes.Clone(p.Options[OptUUID])
	r := RequestFrom(p)
	p.CHAddr[0]++
	p.Options[OptUUID][1]++
	if !bytes.Equal(r.MAC, mac) || !bytes.Equal(r.UUID, uuid) {
		t.Error("RequestFrom shares the packet's buffers")
	}
	if c := pxe.Classify(r); c.Arch != pxe.ArchEFIx8664 || !c.PXE {
		t.Errorf("Classify = %+v", c)
	}
}
