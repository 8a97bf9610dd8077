package dhcp

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/dhcp4"
	"rackboot/internal/lease"
	"rackboot/internal/store/boltstore"
)

var (
	fullNet    = netip.MustParsePrefix("10.250.0.0/24") // testServerIP's
	relayNet   = netip.MustParsePrefix("10.77.0.0/24")
	relayAddr  = netip.MustParseAddr("10.77.0.1")
	bcast68    = netip.MustParseAddrPort("255.255.255.255:68")
	fromClient = netip.MustParseAddrPort("0.0.0.0:68")
)

// newFullTest is a FullServer over a real lease store, ready for handle.
func newFullTest(t testing.TB, leaseCfg func(*lease.Config)) *FullServer {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := lease.Config{
		Subnets: []lease.Subnet{
			{Prefix: fullNet, LeaseTime: time.Hour,
				Pools: []lease.Range{{First: netip.MustParseAddr("10.250.0.100"), Last: netip.MustParseAddr("10.250.0.199")}}},
			{Prefix: relayNet, LeaseTime: 2 * time.Hour,
				Pools: []lease.Range{{First: netip.MustParseAddr("10.77.0.50"), Last: netip.MustParseAddr("10.77.0.59")}}},
		},
		Exclude: []netip.Addr{testServerIP},
	}
	if leaseCfg != nil {
		leaseCfg(&cfg)
	}
	m, err := lease.Open(context.Background(), st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); st.Close() })
	s := &FullServer{
		Config: Config{
			ServerIP:  testServerIP,
			Decide:    testBootConfig().Decide,
			Sightings: &boot.Sightings{},
		},
		Leases: m,
		Networks: []Network{{
			Prefix: fullNet, Router: netip.MustParseAddr("10.250.0.254"),
			DNS:    []netip.Addr{netip.MustParseAddr("10.250.0.53"), netip.MustParseAddr("10.250.0.54")},
			Domain: "rack.test", MTU: 9000, NTP: []netip.Addr{netip.MustParseAddr("10.250.0.123")},
			Extra: dhcp4.Options{150: {10, 250, 0, 1}},
		}, {Prefix: relayNet, Router: relayAddr, T1: 10 * time.Minute, T2: 20 * time.Minute}},
	}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *FullServer) handleT(req *dhcp4.Packet) reply {
	r, _ := s.handle(context.Background(), req, fromClient, limitedBroadcast, nil)
	return r
}

func withGIAddr(a netip.Addr) reqOpt { return func(p *dhcp4.Packet) { p.GIAddr = a } }
func withOption(code uint8, v []byte) reqOpt {
	return func(p *dhcp4.Packet) { p.Options[code] = v }
}

func u32opt(t *testing.T, p *dhcp4.Packet, code uint8) uint32 {
	t.Helper()
	v := p.Options.Get(code)
	if len(v) != 4 {
		t.Fatalf("option %d = %x, want 4 bytes", code, v)
	}
	return binary.BigEndian.Uint32(v)
}

// dora runs DISCOVER and REQUEST (SELECTING) for req's client and returns
// the ACK.
func dora(t *testing.T, s *FullServer, opts ...reqOpt) (offer, ack *dhcp4.Packet) {
	t.Helper()
	r := s.handleT(newReq(dhcp4.Discover, opts...))
	if r.ev.Outcome != Answered || r.pkt.MessageType() != dhcp4.Offer {
		t.Fatalf("DISCOVER: %v %s", r.ev.Outcome, r.ev.Reason)
	}
	offer = r.pkt
	ropts := append(append([]reqOpt{}, opts...), withServerID(testServerIP), withRequestedIP(offer.YIAddr))
	r = s.handleT(newReq(dhcp4.Request, ropts...))
	if r.ev.Outcome != Answered || r.pkt.MessageType() != dhcp4.Ack {
		t.Fatalf("REQUEST: %v %s", r.ev.Outcome, r.ev.Reason)
	}
	return offer, r.pkt
}

func TestFullDORA(t *testing.T) {
	s := newFullTest(t, nil)
	r := s.handleT(newReq(dhcp4.Discover, plainClient, withMAC(1)))
	if r.ev.Outcome != Answered || r.dest != bcast68 {
		t.Fatalf("DISCOVER: %v %s dest %v", r.ev.Outcome, r.ev.Reason, r.dest)
	}
	o := r.pkt
	if o.MessageType() != dhcp4.Offer || !fullNet.Contains(o.YIAddr) || o.YIAddr != netip.MustParseAddr("10.250.0.100") {
		t.Errorf("offer %v yiaddr %v", o.MessageType(), o.YIAddr)
	}
	for code, want := range map[uint8][]byte{
		dhcp4.OptSubnetMask: {255, 255, 255, 0}, dhcp4.OptRouter: {10, 250, 0, 254}, dhcp4.OptDNS: {10, 250, 0, 53, 10, 250, 0, 54},
		dhcp4.OptDomainName: []byte("rack.test"), dhcp4.OptMTU: {0x23, 0x28}, dhcp4.OptNTP: {10, 250, 0, 123},
		dhcp4.OptBroadcastAddr: {10, 250, 0, 255}, dhcp4.OptServerID: testServerIP.AsSlice(), 150: {10, 250, 0, 1},
	} {
		if got := o.Options.Get(code); !bytes.Equal(got, want) {
			t.Errorf("option %d = %v, want %v", code, got, want)
		}
	}
	if lt, t1, t2 := u32opt(t, o, dhcp4.OptLeaseTime), u32opt(t, o, dhcp4.OptRenewalTime), u32opt(t, o, dhcp4.OptRebindingTime); lt != 3600 || t1 != 1800 || t2 != 3150 {
		t.Errorf("lease %d T1 %d T2 %d", lt, t1, t2)
	}
	if o.File != "" || o.Options.Has(dhcp4.OptVendorClass) || o.SIAddr.IsValid() && !o.SIAddr.IsUnspecified() {
		t.Errorf("boot fields for a plain client: file %q siaddr %v", o.File, o.SIAddr)
	}
	if got := s.Leases.List(); len(got) != 0 {
		t.Errorf("an offer was stored: %v", got)
	}

	r = s.handleT(newReq(dhcp4.Request, plainClient, withMAC(1), withServerID(testServerIP), withRequestedIP(o.YIAddr)))
	a := r.pkt
	if r.ev.Outcome != Answered || a.MessageType() != dhcp4.Ack || a.YIAddr != o.YIAddr || r.dest != bcast68 {
		t.Fatalf("REQUEST: %v %s %v", r.ev.Outcome, r.ev.Reason, r.dest)
	}
	ls := s.Leases.List()
	if len(ls) != 1 || ls[0].IP != o.YIAddr || ls[0].State != lease.Bound || ls[0].MAC.String() != "52:54:00:ab:cd:01" {
		t.Errorf("leases after ACK: %+v", ls)
	}

	// RENEWING: unicast with ciaddr; the ACK goes back to ciaddr:68.
	r = s.handleT(newReq(dhcp4.Request, plainClient, withMAC(1), withCIAddr(o.YIAddr)))
	if r.ev.Outcome != Answered || r.pkt.MessageType() != dhcp4.Ack || r.dest != netip.AddrPortFrom(o.YIAddr, 68) || r.pkt.CIAddr != o.YIAddr {
		t.Errorf("renew: %v %s dest %v", r.ev.Outcome, r.ev.Reason, r.dest)
	}
	// A second client gets the next address; the first's is not offered again.
	_, ack2 := dora(t, s, plainClient, withMAC(2))
	if ack2.YIAddr == o.YIAddr {
		t.Errorf("address given twice: %v", ack2.YIAddr)
	}
	st := s.Stats()
	if st.Offers != 2 || st.Acks != 3 || st.Naks != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestFullRequestStates(t *testing.T) {
	s := newFullTest(t, nil)
	_, ack := dora(t, s, plainClient, withMAC(1))
	mine := ack.YIAddr
	for _, tc := range []struct {
		name    string
		req     *dhcp4.Packet
		want    dhcp4.MessageType // 0: silence
		wantWhy string
	}{
		{"SELECTING another server", newReq(dhcp4.Request, withMAC(3), withServerID(netip.MustParseAddr("10.250.0.2")), withRequestedIP(netip.MustParseAddr("10.250.0.150"))), 0, "chose the DHCP server at 10.250.0.2"},
		{"INIT-REBOOT for its own address", newReq(dhcp4.Request, withMAC(1), withRequestedIP(mine)), dhcp4.Ack, ""},
		{"INIT-REBOOT for another's address", newReq(dhcp4.Request, withMAC(2), withRequestedIP(mine)), dhcp4.Nak, "not available"},
		{"INIT-REBOOT from another network", newReq(dhcp4.Request, withMAC(2), withRequestedIP(netip.MustParseAddr("192.168.1.5"))), dhcp4.Nak, "not on the client's network"},
		{"INIT-REBOOT for a free pool address", newReq(dhcp4.Request, withMAC(2), withRequestedIP(netip.MustParseAddr("10.250.0.150"))), dhcp4.Ack, ""},
		{"INIT-REBOOT outside the pools", newReq(dhcp4.Request, withMAC(4), withRequestedIP(netip.MustParseAddr("10.250.0.20"))), dhcp4.Nak, "not available"},
		{"RENEWING an address of a network we do not serve", newReq(dhcp4.Request, withMAC(5), withCIAddr(netip.MustParseAddr("192.168.1.5"))), 0, "not on the client's network"},
		{"RENEWING another's address", newReq(dhcp4.Request, withMAC(5), withCIAddr(mine)), dhcp4.Nak, "not available"},
		{"REQUEST naming no address", newReq(dhcp4.Request, withMAC(5)), 0, "names no address"},
		{"our own server's address", newReq(dhcp4.Request, withMAC(5), withRequestedIP(testServerIP)), dhcp4.Nak, "not available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.handleT(tc.req)
			if tc.want == 0 {
				if r.ev.Outcome != Ignored || r.pkt != nil || !strings.Contains(r.ev.Reason, tc.wantWhy) {
					t.Errorf("got %v %q, want silence because %q", r.ev.Outcome, r.ev.Reason, tc.wantWhy)
				}
				return
			}
			if r.pkt == nil || r.pkt.MessageType() != tc.want {
				t.Fatalf("got %v %q, want %v", r.ev.Outcome, r.ev.Reason, tc.want)
			}
			if tc.want == dhcp4.Nak {
				p := r.pkt
				if !strings.Contains(string(p.Options.Get(dhcp4.OptMessage)), tc.wantWhy) || p.YIAddr.IsValid() && !p.YIAddr.IsUnspecified() ||
					p.Options.Has(dhcp4.OptLeaseTime) || r.dest != bcast68 {
					t.Errorf("NAK: message %q yiaddr %v dest %v", p.Options.Get(dhcp4.OptMessage), p.YIAddr, r.dest)
				}
			}
		})
	}
	if st := s.Stats(); st.Naks != 5 {
		t.Errorf("naks %d", st.Naks)
	}
}

func TestFullPXE(t *testing.T) {
	s := newFullTest(t, nil)
	_, ack := dora(t, s, edk2, withMAC(7))
	if ack.File != "snponly.efi" || ack.SIAddr != testServerIP || string(ack.Options.Get(dhcp4.OptVendorClass)) != "PXEClient" ||
		!bytes.Equal(ack.Options.Get(dhcp4.OptUUID), testUUID) || !fullNet.Contains(ack.YIAddr) {
		t.Errorf("EDK2 ACK: file %q siaddr %v yiaddr %v", ack.File, ack.SIAddr, ack.YIAddr)
	}
	// iPXE gets its menu, and keeps its address.
	_, ack2 := dora(t, s, ipxeBIOS, withMAC(7))
	if want := "http://10.250.0.1:8080/boot.ipxe?mac=52:54:00:ab:cd:07&arch=bios"; ack2.File != want || ack2.YIAddr != ack.YIAddr {
		t.Errorf("iPXE ACK: file %q yiaddr %v (was %v)", ack2.File, ack2.YIAddr, ack.YIAddr)
	}
	if got, ok := s.Sightings.Lookup(ack.YIAddr); !ok || !got.IPXE {
		t.Errorf("sighting %+v %v", got, ok)
	}
}

func TestFullRelay(t *testing.T) {
	s := newFullTest(t, nil)
	opt82 := []byte{1, 4, 'p', 'o', 'r', 't', 2, 3, 'r', 'k', '1'}
	r := s.handleT(newReq(dhcp4.Discover, withMAC(1), withGIAddr(relayAddr), withOption(dhcp4.OptRelayAgentInfo, opt82)))
	if r.ev.Outcome != Answered || !relayNet.Contains(r.pkt.YIAddr) || r.dest != netip.AddrPortFrom(relayAddr, 67) {
		t.Fatalf("relayed DISCOVER: %v %s yiaddr %v dest %v", r.ev.Outcome, r.ev.Reason, r.pkt.YIAddr, r.dest)
	}
	o := r.pkt
	if !bytes.Equal(o.Options.Get(dhcp4.OptRelayAgentInfo), opt82) || o.GIAddr != relayAddr {
		t.Errorf("option 82 %q giaddr %v", o.Options.Get(dhcp4.OptRelayAgentInfo), o.GIAddr)
	}
	if t1, t2, lt := u32opt(t, o, dhcp4.OptRenewalTime), u32opt(t, o, dhcp4.OptRebindingTime), u32opt(t, o, dhcp4.OptLeaseTime); t1 != 600 || t2 != 1200 || lt != 7200 {
		t.Errorf("T1 %d T2 %d lease %d", t1, t2, lt)
	}
	r = s.handleT(newReq(dhcp4.Request, withMAC(1), withGIAddr(relayAddr), withServerID(testServerIP), withRequestedIP(o.YIAddr), withOption(dhcp4.OptRelayAgentInfo, opt82)))
	if r.pkt.MessageType() != dhcp4.Ack || !bytes.Equal(r.pkt.Options.Get(dhcp4.OptRelayAgentInfo), opt82) {
		t.Fatalf("relayed REQUEST: %v", r.ev.Reason)
	}
	if ls := s.Leases.List(); len(ls) != 1 || ls[0].Relay != relayAddr {
		t.Errorf("lease %+v", ls)
	}
	// A relayed NAK carries the broadcast bit and goes to the relay.
	r = s.handleT(newReq(dhcp4.Request, withMAC(2), withGIAddr(relayAddr), withRequestedIP(o.YIAddr)))
	if r.pkt.MessageType() != dhcp4.Nak || !r.pkt.Broadcast() || r.dest != netip.AddrPortFrom(relayAddr, 67) {
		t.Errorf("relayed NAK: %v bcast %v dest %v", r.pkt.MessageType(), r.pkt.Broadcast(), r.dest)
	}
	// RFC 3527 link selection picks the subnet over giaddr; RFC 3011 too.
	link := []byte{5, 4, 10, 77, 0, 1}
	r = s.handleT(newReq(dhcp4.Discover, withMAC(3), withGIAddr(testServerIP), withOption(dhcp4.OptRelayAgentInfo, link)))
	if !relayNet.Contains(r.pkt.YIAddr) {
		t.Errorf("link selection: yiaddr %v", r.pkt.YIAddr)
	}
	r = s.handleT(newReq(dhcp4.Discover, withMAC(4), withOption(dhcp4.OptSubnetSelection, []byte{10, 77, 0, 0})))
	if !relayNet.Contains(r.pkt.YIAddr) {
		t.Errorf("subnet selection: yiaddr %v", r.pkt.YIAddr)
	}
	// A relay from a network we do not serve: silence.
	r = s.handleT(newReq(dhcp4.Discover, withMAC(5), withGIAddr(netip.MustParseAddr("192.168.9.1"))))
	if r.ev.Outcome != Ignored || !strings.Contains(r.ev.Reason, "no subnet") {
		t.Errorf("unknown relay: %v %s", r.ev.Outcome, r.ev.Reason)
	}
}

func TestFullReleaseDeclineInform(t *testing.T) {
	s := newFullTest(t, nil)
	_, ack := dora(t, s, withMAC(1))
	ip := ack.YIAddr
	// RELEASE by someone else does nothing; by the owner frees the address.
	if r := s.handleT(newReq(dhcp4.Release, withMAC(2), withCIAddr(ip), withServerID(testServerIP))); r.ev.Outcome != Ignored {
		t.Errorf("foreign release: %v", r.ev.Outcome)
	}
	if r := s.handleT(newReq(dhcp4.Release, withMAC(1), withCIAddr(ip), withServerID(testServerIP))); r.ev.Outcome != Handled || r.pkt != nil {
		t.Errorf("release: %v %s", r.ev.Outcome, r.ev.Reason)
	}
	if ls := s.Leases.List(); ls[0].State != lease.Released {
		t.Errorf("after release: %+v", ls[0])
	}
	// DECLINE after a new DORA: the address is quarantined, the client
	// gets another one next time.
	_, ack = dora(t, s, withMAC(1))
	r := s.handleT(newReq(dhcp4.Decline, withMAC(1), withRequestedIP(ack.YIAddr), withServerID(testServerIP), withOption(dhcp4.OptMessage, []byte("arp conflict"))))
	if r.ev.Outcome != Handled {
		t.Fatalf("decline: %v %s", r.ev.Outcome, r.ev.Reason)
	}
	_, again := dora(t, s, withMAC(1))
	if again.YIAddr == ack.YIAddr {
		t.Errorf("declined address %v handed out again", ack.YIAddr)
	}
	// INFORM: options, no address, no lease, unicast to ciaddr.
	r = s.handleT(newReq(dhcp4.Inform, withMAC(9), withCIAddr(netip.MustParseAddr("10.250.0.30"))))
	p := r.pkt
	if p == nil || p.MessageType() != dhcp4.Ack || p.YIAddr.IsValid() && !p.YIAddr.IsUnspecified() || p.Options.Has(dhcp4.OptLeaseTime) ||
		!bytes.Equal(p.Options.Get(dhcp4.OptRouter), []byte{10, 250, 0, 254}) || r.dest != netip.MustParseAddrPort("10.250.0.30:68") {
		t.Errorf("INFORM reply %+v dest %v", p, r.dest)
	}
	if st := s.Stats(); st.Releases != 1 || st.Declines != 1 || st.Informs != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestFullReservationHostname(t *testing.T) {
	s := newFullTest(t, func(c *lease.Config) {
		c.Subnets[0].Reservations = []lease.Reservation{{MAC: net.HardwareAddr{0x52, 0x54, 0x00, 0xab, 0xcd, 0x09}, IP: netip.MustParseAddr("10.250.0.9"), Hostname: "cn9"}}
	})
	_, ack := dora(t, s, withMAC(9))
	if ack.YIAddr != netip.MustParseAddr("10.250.0.9") || string(ack.Options.Get(dhcp4.OptHostname)) != "cn9" {
		t.Errorf("reserved: %v %q", ack.YIAddr, ack.Options.Get(dhcp4.OptHostname))
	}
}

func TestFullFitsSmallClients(t *testing.T) {
	s := newFullTest(t, nil)
	big := bytes.Repeat([]byte("x"), 200)
	s.nets[fullNet].opts[224] = big
	s.nets[fullNet].opts[225] = big
	r := s.handleT(newReq(dhcp4.Discover, withMAC(1), withOption(dhcp4.OptParamRequest, []byte{1, 3, 224})))
	if p := r.pkt; !p.Options.Has(224) || p.Options.Has(225) || len(p.Marshal()) > 548 {
		t.Errorf("576-byte client: 224 %v 225 %v, %d bytes", p.Options.Has(224), p.Options.Has(225), len(p.Marshal()))
	}
	r = s.handleT(newReq(dhcp4.Discover, withMAC(2), withOption(dhcp4.OptMaxMessageSize, []byte{5, 0xdc})))
	if p := r.pkt; !p.Options.Has(224) || !p.Options.Has(225) {
		t.Error("a client accepting 1500 bytes lost options")
	}
}

type fakePinger struct {
	mu    sync.Mutex
	inUse map[netip.Addr]bool
	asked []netip.Addr
}

func (f *fakePinger) Ping(_ context.Context, ip netip.Addr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, ip)
	return f.inUse[ip]
}

func TestFullPingCheck(t *testing.T) {
	s := newFullTest(t, nil)
	squat := netip.MustParseAddr("10.250.0.100")
	p := &fakePinger{inUse: map[netip.Addr]bool{squat: true}}
	s.ping, s.PingTimeout = p, 100*time.Millisecond
	offer, ack := dora(t, s, withMAC(1))
	if offer.YIAddr == squat || ack.YIAddr != offer.YIAddr {
		t.Errorf("offered %v although it answers ping", offer.YIAddr)
	}
	ls := s.Leases.List()
	if len(ls) != 2 || ls[0].IP != squat || ls[0].State != lease.Declined {
		t.Errorf("leases %+v, want %v quarantined", ls, squat)
	}
	// The client's own address is not pinged again.
	n := len(p.asked)
	dora(t, s, withMAC(1))
	if len(p.asked) != n {
		t.Errorf("pinged the client's own address: %v", p.asked[n:])
	}
	if st := s.Stats(); st.Conflicts != 1 {
		t.Errorf("conflicts %d", st.Conflicts)
	}
}

func TestFullRogueDetection(t *testing.T) {
	s := newFullTest(t, nil)
	var seen []Rogue
	s.OnRogue = func(r Rogue) { seen = append(seen, r) }
	offer := func(sid netip.Addr, yiaddr netip.Addr) *dhcp4.Packet {
		p := newReq(dhcp4.Offer, withMAC(1), withServerID(sid))
		p.Op, p.YIAddr = dhcp4.OpReply, yiaddr
		return p
	}
	from := netip.MustParseAddrPort("10.250.0.2:67")
	s.checkRogue(offer(testServerIP, netip.MustParseAddr("10.250.0.100")), netip.MustParseAddrPort("10.250.0.1:67")) // ours
	s.checkRogue(offer(netip.MustParseAddr("10.250.0.3"), netip.IPv4Unspecified()), from)                            // a proxy
	s.checkRogue(offer(netip.MustParseAddr("10.250.0.2"), netip.MustParseAddr("10.250.0.77")), from)
	s.checkRogue(offer(netip.MustParseAddr("10.250.0.2"), netip.MustParseAddr("10.250.0.78")), from)
	rs := s.Rogues()
	if len(rs) != 1 || rs[0].Server != netip.MustParseAddr("10.250.0.2") || rs[0].Count != 2 || rs[0].YourIP != netip.MustParseAddr("10.250.0.78") {
		t.Errorf("rogues %+v", rs)
	}
	if len(seen) != 2 || s.Stats().RogueReplies != 2 {
		t.Errorf("OnRogue calls %d, counter %d", len(seen), s.Stats().RogueReplies)
	}
}

// BenchmarkFullDiscover: decode a relayed DISCOVER from a new client,
// allocate, build and encode the OFFER (no sockets, no store write).
func BenchmarkFullDiscover(b *testing.B) {
	big := netip.MustParsePrefix("10.96.0.0/12")
	s := newFullTest(b, func(c *lease.Config) {
		c.Subnets = append(c.Subnets, lease.Subnet{Prefix: big, LeaseTime: time.Hour,
			Pools: []lease.Range{{First: netip.MustParseAddr("10.97.0.0"), Last: netip.MustParseAddr("10.111.255.254")}}})
	})
	s.Networks = append(s.Networks, Network{Prefix: big, Router: netip.MustParseAddr("10.96.0.1"),
		DNS: []netip.Addr{netip.MustParseAddr("10.96.0.1")}, Domain: "rack.test"})
	if err := s.init(); err != nil {
		b.Fatal(err)
	}
	req := newReq(dhcp4.Discover, withGIAddr(netip.MustParseAddr("10.96.0.1")))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		req.CHAddr = net.HardwareAddr{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		p, err := Decode(req.Marshal())
		if err != nil {
			b.Fatal(err)
		}
		if r, _ := s.handle(context.Background(), p, fromClient, limitedBroadcast, nil); r.pkt == nil {
			b.Fatal(r.ev.Reason)
		} else {
			r.encode() // as finish does
		}
	}
}

// TestFullRequestAsync: with a later func, a REQUEST returns at once and
// its ACK comes once the lease is committed; a refusal comes at once.
func TestFullRequestAsync(t *testing.T) {
	s := newFullTest(t, nil)
	offer := s.handleT(newReq(dhcp4.Discover, withMAC(1))).pkt
	got := make(chan reply, 1)
	later := func(r reply) { got <- r }
	req := newReq(dhcp4.Request, withMAC(1), withServerID(testServerIP), withRequestedIP(offer.YIAddr))
	if _, pending := s.handle(context.Background(), req, fromClient, limitedBroadcast, later); !pending {
		t.Fatal("REQUEST not pending")
	}
	select {
	case r := <-got:
		if r.pkt.MessageType() != dhcp4.Ack || r.pkt.YIAddr != offer.YIAddr {
			t.Errorf("later got %v %v", r.pkt.MessageType(), r.pkt.YIAddr)
		}
		if ls := s.Leases.List(); len(ls) != 1 || ls[0].State != lease.Bound {
			t.Errorf("leases when the ACK was built: %+v", ls)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ACK")
	}
	nak := newReq(dhcp4.Request, withMAC(2), withRequestedIP(offer.YIAddr))
	r, pending := s.handle(context.Background(), nak, fromClient, limitedBroadcast, later)
	if pending || r.pkt.MessageType() != dhcp4.Nak {
		t.Errorf("another client's address: pending %v, %v", pending, r.ev.Reason)
	}
}

// TestFullCachedRenewal: a renewal early in a lease (lease caching) is ACKed
// with the time the lease has left, T1 and T2 where they were, and costs no
// store write.
func TestFullCachedRenewal(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newFullTest(t, func(c *lease.Config) { c.CacheThreshold = 0.25; c.Now = clock })
	_, ack := dora(t, s, plainClient, withMAC(1), withGIAddr(relayAddr)) // relayNet: 2h, T1 10m, T2 20m
	if lt, t1, t2 := u32opt(t, ack, dhcp4.OptLeaseTime), u32opt(t, ack, dhcp4.OptRenewalTime), u32opt(t, ack, dhcp4.OptRebindingTime); lt != 7200 || t1 != 600 || t2 != 1200 {
		t.Errorf("first ACK: lease %d T1 %d T2 %d, want 7200 600 1200", lt, t1, t2)
	}
	commits := s.Leases.Stats().Commits

	mu.Lock()
	now = now.Add(5 * time.Minute)
	mu.Unlock()
	r := s.handleT(newReq(dhcp4.Request, plainClient, withMAC(1), withGIAddr(relayAddr), withRequestedIP(ack.YIAddr)))
	if r.pkt == nil || r.pkt.MessageType() != dhcp4.Ack || r.pkt.YIAddr != ack.YIAddr {
		t.Fatalf("renewal: %v %s", r.ev.Outcome, r.ev.Reason)
	}
	if lt, t1, t2 := u32opt(t, r.pkt, dhcp4.OptLeaseTime), u32opt(t, r.pkt, dhcp4.OptRenewalTime), u32opt(t, r.pkt, dhcp4.OptRebindingTime); lt != 6900 || t1 != 300 || t2 != 900 {
		t.Errorf("cached renewal 5 min later: lease %d T1 %d T2 %d, want 6900 300 900", lt, t1, t2)
	}
	if got := s.Leases.Stats().Commits; got != commits {
		t.Errorf("cached renewal wrote to the store: %d commits, was %d", got, commits)
	}
}
