package dhcp

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"rackboot/internal/boot"
	"rackboot/internal/dhcp4"
	"rackboot/internal/pxe"
)

func TestClientAddr(t *testing.T) {
	a, b := netip.MustParseAddr("10.250.0.7"), netip.MustParseAddr("10.250.0.8")
	tests := []struct {
		name string
		p    *dhcp4.Packet
		want netip.Addr
	}{
		{"nothing", newReq(dhcp4.Discover), netip.Addr{}},
		{"option 50", newReq(dhcp4.Request, withRequestedIP(a)), a},
		{"option 50 wins over ciaddr", newReq(dhcp4.Request, withRequestedIP(a), withCIAddr(b)), a},
		{"ciaddr", newReq(dhcp4.Request, withCIAddr(b)), b},
		{"0.0.0.0 in option 50 falls back", newReq(dhcp4.Request, withRequestedIP(netip.IPv4Unspecified()), withCIAddr(b)), b},
		{"short option 50", func() *dhcp4.Packet {
			p := newReq(dhcp4.Request)
			p.Options[dhcp4.OptRequestedIP] = []byte{10}
			return p
		}(), netip.Addr{}},
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
		req       *dhcp4.Packet
		wantType  dhcp4.MessageType
		wantFile  string // in 'file'; option 67 always holds the full name
		wantOpt67 string
		wantVC    string
		want43    bool
	}{
		{
			name: "EDK2 DISCOVER gets snponly.efi", req: newReq(dhcp4.Discover, edk2, withBroadcastFlag),
			wantType: dhcp4.Offer, wantFile: "snponly.efi", wantOpt67: "snponly.efi", wantVC: "PXEClient", want43: true,
		},
		{
			name: "ProxyDHCPREQUEST on 4011 gets an ACK", req: newReq(dhcp4.Request, edk2, withCIAddr(ciaddr)),
			wantType: dhcp4.Ack, wantFile: "snponly.efi", wantOpt67: "snponly.efi", wantVC: "PXEClient", want43: true,
		},
		{
			name: "iPXE gets its menu URL", req: newReq(dhcp4.Discover, ipxeBIOS),
			wantType: dhcp4.Offer, wantVC: "PXEClient", want43: true,
			wantFile:  "http://10.250.0.1:8080/boot.ipxe?mac=52:54:00:12:34:56&arch=bios",
			wantOpt67: "http://10.250.0.1:8080/boot.ipxe?mac=52:54:00:12:34:56&arch=bios",
		},
		{
			name: "HTTP boot gets HTTPClient and a URL, no PXE options", req: newReq(dhcp4.Discover, httpBoot),
			wantType: dhcp4.Offer, wantVC: "HTTPClient",
			wantFile: "http://10.250.0.1:8080/snponly.efi", wantOpt67: "http://10.250.0.1:8080/snponly.efi",
		},
		{
			name: "relayed request keeps giaddr",
			req:  newReq(dhcp4.Discover, edk2, func(p *dhcp4.Packet) { p.GIAddr = relay }), wantType: dhcp4.Offer,
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
			r, err = dhcp4.Parse(r.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if r.Op != dhcp4.OpReply || r.MessageType() != tt.wantType {
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
			if tt.wantType == dhcp4.Ack && tt.req.CIAddr.IsValid() {
				wantCI = tt.req.CIAddr
			}
			if r.CIAddr != wantCI {
				t.Errorf("ciaddr = %v, want %v", r.CIAddr, wantCI)
			}
			if r.SIAddr != testServerIP {
				t.Errorf("siaddr = %v, want %v", r.SIAddr, testServerIP)
			}
			if got := r.Options.Get(dhcp4.OptServerID); !bytes.Equal(got, testServerIP.AsSlice()) {
				t.Errorf("option 54 = %v", got)
			}
			if r.File != tt.wantFile || string(r.Options.Get(dhcp4.OptBootFile)) != tt.wantOpt67 || r.SName != "" {
				t.Errorf("file %q option 67 %q sname %q", r.File, r.Options.Get(dhcp4.OptBootFile), r.SName)
			}
			if got := string(r.Options.Get(dhcp4.OptVendorClass)); got != tt.wantVC {
				t.Errorf("option 60 = %q, want %q", got, tt.wantVC)
			}
			if got := r.Options.Get(dhcp4.OptVendorSpecific); tt.want43 != (got != nil) ||
				tt.want43 && !bytes.Equal(got, []byte{6, 1, 8, 255}) {
				t.Errorf("option 43 = %x, want PXE_DISCOVERY_CONTROL=8: %v", got, tt.want43)
			}
			if got, sent := r.Options.Get(dhcp4.OptUUID), tt.req.Options.Get(dhcp4.OptUUID); !bytes.Equal(got, sent) {
				t.Errorf("option 97 = %x, client sent %x", got, sent)
			}
		})
	}
}

func TestBuildReplyLongURL(t *testing.T) {
	cfg := testBootConfig()
	cfg.HTTPBase = "http://rackboot-primary.provisioning.datacenter-one.example.org:8080/a/rather/deep/prefix"
	req := newReq(dhcp4.Discover, ipxeBIOS)
	d := cfg.Decide(classify(req))
	if len(d.BootFile) <= maxFileField {
		t.Fatalf("test URL too short: %d", len(d.BootFile))
	}
	r, err := BuildReply(req, d, testServerIP)
	if err != nil {
		t.Fatal(err)
	}
	if r.File != "" || string(r.Options.Get(dhcp4.OptBootFile)) != d.BootFile {
		t.Errorf("long name: file %q, option 67 %q; want only option 67", r.File, r.Options.Get(dhcp4.OptBootFile))
	}
}

func TestBuildReplyNextServer(t *testing.T) {
	other := netip.MustParseAddr("10.250.0.99")
	d := boot.Decision{Answer: true, BootFile: "undionly.kpxe", NextServer: other}
	r, err := BuildReply(newReq(dhcp4.Discover, edk2), d, testServerIP)
	if err != nil {
		t.Fatal(err)
	}
	if r.SIAddr != other || !bytes.Equal(r.Options.Get(dhcp4.OptServerID), testServerIP.AsSlice()) {
		t.Errorf("siaddr %v option 54 %v", r.SIAddr, r.Options.Get(dhcp4.OptServerID))
	}
}

func TestBuildReplyErrors(t *testing.T) {
	ok := boot.Decision{Answer: true, BootFile: "undionly.kpxe"}
	reply := newReq(dhcp4.Discover, edk2)
	reply.Op = dhcp4.OpReply
	tests := []struct {
		name     string
		req      *dhcp4.Packet
		d        boot.Decision
		serverIP netip.Addr
		want     string
	}{
		{"nil request", nil, ok, testServerIP, "BOOTREQUEST"},
		{"a reply", reply, ok, testServerIP, "BOOTREQUEST"},
		{"INFORM", newReq(dhcp4.Inform, edk2), ok, testServerIP, "not INFORM"},
		{"silent decision", newReq(dhcp4.Discover, edk2), boot.Decision{Reason: "no arm64"}, testServerIP, "no arm64"},
		{"no server IP", newReq(dhcp4.Discover, edk2), ok, netip.Addr{}, "not an IPv4"},
		{"IPv6 server IP", newReq(dhcp4.Discover, edk2), ok, netip.MustParseAddr("fd00::1"), "not an IPv4"},
		{"empty file", newReq(dhcp4.Discover, edk2), boot.Decision{Answer: true}, testServerIP, "want 1 to 255"},
		{"file too long", newReq(dhcp4.Discover, edk2), boot.Decision{Answer: true, BootFile: strings.Repeat("x", 256)}, testServerIP, "want 1 to 255"},
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
		req       *dhcp4.Packet
		src       netip.AddrPort
		port      int
		broadcast netip.Addr
		want      netip.AddrPort
		wantErr   bool
	}{
		{"DISCOVER from a client without address", newReq(dhcp4.Discover, edk2), netip.MustParseAddrPort("0.0.0.0:68"), 67, netip.Addr{}, bcast, false},
		{"broadcast flag wins over ciaddr", newReq(dhcp4.Request, edk2, withCIAddr(client), withBroadcastFlag), netip.AddrPortFrom(client, 68), 67, netip.Addr{}, bcast, false},
		{"ciaddr without broadcast flag: unicast", newReq(dhcp4.Request, edk2, withCIAddr(client)), netip.AddrPortFrom(client, 68), 67, netip.Addr{}, netip.AddrPortFrom(client, 68), false},
		{"relayed: to the relay's port 67", newReq(dhcp4.Discover, edk2, func(p *dhcp4.Packet) { p.GIAddr = netip.MustParseAddr("10.9.0.1") }), netip.MustParseAddrPort("10.9.0.1:67"), 67, netip.Addr{}, netip.MustParseAddrPort("10.9.0.1:67"), false},
		{"platform broadcast address (FreeBSD)", newReq(dhcp4.Discover, edk2), netip.MustParseAddrPort("0.0.0.0:68"), 67, netip.MustParseAddr("10.250.0.255"), netip.MustParseAddrPort("10.250.0.255:68"), false},
		{"port 4011: back to the source", newReq(dhcp4.Request, edk2, withCIAddr(client)), netip.AddrPortFrom(client, 4011), 4011, netip.Addr{}, netip.AddrPortFrom(client, 4011), false},
		{"port 4011: mapped source unmapped", newReq(dhcp4.Request, edk2), netip.AddrPortFrom(netip.AddrFrom16(client.As16()), 68), 4011, netip.Addr{}, netip.AddrPortFrom(client, 68), false},
		{"port 4011 from 0.0.0.0", newReq(dhcp4.Request, edk2), netip.MustParseAddrPort("0.0.0.0:68"), 4011, netip.Addr{}, netip.AddrPort{}, true},
	}
	for _, tt := range tests {
		got, err := ReplyDest(tt.req, tt.src, tt.port, tt.broadcast)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: ReplyDest = %v, %v; want %v (error %v)", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestRequestFromCopies(t *testing.T) {
	p := newReq(dhcp4.Discover, edk2)
	// The packet's own copies: edk2's option values are shared by every
	// test (and by every run of -count).
	p.CHAddr, p.Options[dhcp4.OptUUID] = bytes.Clone(p.CHAddr), bytes.Clone(p.Options[dhcp4.OptUUID])
	mac, uuid := bytes.Clone(p.CHAddr), bytes.Clone(p.Options[dhcp4.OptUUID])
	r := RequestFrom(p)
	p.CHAddr[0]++
	p.Options[dhcp4.OptUUID][1]++
	if !bytes.Equal(r.MAC, mac) || !bytes.Equal(r.UUID, uuid) {
		t.Error("RequestFrom shares the packet's buffers")
	}
	if c := pxe.Classify(r); c.Arch != pxe.ArchEFIx8664 || !c.PXE {
		t.Errorf("Classify = %+v", c)
	}
}
