package dhcp

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/dhcp4"
	"rackboot/internal/pxe"
)

// eventLog collects OnEvent calls from the server's goroutines.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) { l.mu.Lock(); l.events = append(l.events, e); l.mu.Unlock() }

func (l *eventLog) count(o Outcome) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Outcome == o {
			n++
		}
	}
	return n
}

// TestProxyServerSockets runs the server on real sockets in a network
// namespace and talks to it from a second one, as a PXE client on the same
// link would.
func TestProxyServerSockets(t *testing.T) {
	n := setupNetns(t)
	cfg := boot.Config{
		ServerIP: n.srvIP,
		HTTPBase: "http://" + n.srvIP.String() + ":8080",
		HasFile:  func(name string) bool { return name == "undionly.kpxe" || name == "snponly.efi" },
	}
	var events eventLog
	s := &ProxyServer{
		Config: Config{
			Interface: n.srvIf,
			ServerIP:  n.srvIP,
			Decide:    cfg.Decide,
			Sightings: &boot.Sightings{},
			Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
			OnEvent:   events.add,
		},
		Mode: ModeProxy,
	}
	stop := n.startServer(t, s)
	c := n.clientConn(t)
	srvID := n.srvIP.AsSlice()

	t.Run("EDK2 DISCOVER broadcast gets a proxy OFFER", func(t *testing.T) {
		req := newReq(dhcp4.Discover, edk2, withMAC(1), withXID(0x01010101))
		reply, from := exchange(t, c, req, limitedBcast67)
		if from.Port() != dhcp4.PortServer {
			t.Errorf("reply from port %d, want 67", from.Port())
		}
		checkProxyReply(t, reply, req, dhcp4.Offer, n.srvIP, "snponly.efi")
		if !bytes.Equal(reply.Options.Get(dhcp4.OptUUID), testUUID) || !bytes.Equal(reply.Options.Get(dhcp4.OptServerID), srvID) {
			t.Errorf("option 97 %x, option 54 %v", reply.Options.Get(dhcp4.OptUUID), reply.Options.Get(dhcp4.OptServerID))
		}
	})

	t.Run("iPXE DISCOVER gets its menu URL", func(t *testing.T) {
		req := newReq(dhcp4.Discover, ipxeBIOS, withMAC(2), withXID(0x02020202))
		reply, _ := exchange(t, c, req, limitedBcast67)
		checkProxyReply(t, reply, req, dhcp4.Offer, n.srvIP,
			"http://"+n.srvIP.String()+":8080/boot.ipxe?mac=52:54:00:ab:cd:02&arch=bios")
	})

	t.Run("ProxyDHCPREQUEST to 4011 gets a unicast ACK from 4011", func(t *testing.T) {
		req := newReq(dhcp4.Request, edk2, withMAC(3), withXID(0x03030303), withCIAddr(n.cliIP), withServerID(n.srvIP))
		reply, from := exchange(t, c, req, netip.AddrPortFrom(n.srvIP, dhcp4.PortPXE))
		if from != netip.AddrPortFrom(n.srvIP, dhcp4.PortPXE) {
			t.Errorf("reply from %v, want %v:4011", from, n.srvIP)
		}
		checkProxyReply(t, reply, req, dhcp4.Ack, n.srvIP, "snponly.efi")
		if reply.CIAddr != n.cliIP {
			t.Errorf("ciaddr %v, want %v", reply.CIAddr, n.cliIP)
		}
	})

	t.Run("ordinary client: no reply", func(t *testing.T) {
		before := s.Stats().Ignored
		expectSilence(t, c, newReq(dhcp4.Discover, plainClient, withXID(0x04040404)).Marshal(), 0x04040404, limitedBcast67, 300*time.Millisecond)
		waitFor(t, "the ignore to be counted", func() bool { return s.Stats().Ignored > before })
	})

	t.Run("REQUEST for the real DHCP server: no reply, sighting recorded", func(t *testing.T) {
		leased := netip.AddrFrom4([4]byte{10, 250, n.srvIP.As4()[2], 77})
		req := newReq(dhcp4.Request, edk2, withMAC(5), withXID(0x05050505), withRequestedIP(leased),
			withServerID(netip.MustParseAddr("10.250.255.254")))
		expectSilence(t, c, req.Marshal(), req.XID, limitedBcast67, 300*time.Millisecond)
		waitFor(t, "the sighting", func() bool { _, ok := s.Sightings.Lookup(leased); return ok })
		got, _ := s.Sightings.Lookup(leased)
		if got.IPXE || got.Arch != pxe.ArchEFIx8664 || got.MAC.String() != "52:54:00:ab:cd:05" {
			t.Errorf("sighting %+v", got)
		}
	})

	t.Run("malformed packets are counted and survived", func(t *testing.T) {
		before := s.Stats().Malformed
		for _, junk := range [][]byte{[]byte("hello"), make([]byte, 240), raw(newReq(dhcp4.Discover), dhcp4.OptVendorClass, 99)} {
			if _, err := c.WriteToUDPAddrPort(junk, limitedBcast67); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "3 malformed packets", func() bool { return s.Stats().Malformed >= before+3 })
		// Still serving.
		exchange(t, c, newReq(dhcp4.Discover, edk2, withXID(0x06060606)), limitedBcast67)
	})

	stop()
	st := s.Stats()
	if st.Received != st.Answered+st.Ignored+st.Malformed+st.SendErrors || st.Answered < 4 || st.SendErrors != 0 {
		t.Errorf("stats %+v", st)
	}
	if events.count(Answered) != int(st.Answered) || events.count(Malformed) != int(st.Malformed) {
		t.Errorf("events disagree with stats %+v", st)
	}
}

// TestListenOnlySockets: in ModeOff the server answers nobody, does not
// listen on 4011, but records iPXE's address for the TFTP loop breaker.
func TestListenOnlySockets(t *testing.T) {
	n := setupNetns(t)
	s := &ProxyServer{Config: Config{Interface: n.srvIf, Sightings: &boot.Sightings{}}, Mode: ModeOff}
	n.startServer(t, s)
	c := n.clientConn(t)

	// iPXE's DHCPREQUEST to the real DHCP server for the address it was
	// offered; resent until the listener has seen it.
	leased := netip.AddrFrom4([4]byte{10, 250, n.srvIP.As4()[2], 88})
	req := newReq(dhcp4.Request, ipxeBIOS, withMAC(8), withXID(0x08080808), withRequestedIP(leased),
		withServerID(netip.MustParseAddr("10.250.255.254")))
	waitFor(t, "the sighting", func() bool {
		expectSilence(t, c, req.Marshal(), req.XID, limitedBcast67, 100*time.Millisecond)
		_, ok := s.Sightings.Lookup(leased)
		return ok
	})
	expectSilence(t, c, newReq(dhcp4.Discover, edk2, withXID(0x09090909)).Marshal(), 0x09090909, limitedBcast67, 300*time.Millisecond)
	expectSilence(t, c, newReq(dhcp4.Request, edk2, withXID(0x0a0a0a0a), withCIAddr(n.cliIP)).Marshal(), 0x0a0a0a0a,
		netip.AddrPortFrom(n.srvIP, dhcp4.PortPXE), 300*time.Millisecond)
	if st := s.Stats(); st.Answered != 0 || st.Ignored == 0 {
		t.Errorf("stats %+v", st)
	}

	// The TFTP server's hook now sends iPXE at that address the menu.
	cfg := boot.Config{HTTPBase: "http://" + n.srvIP.String() + ":8080"}
	body, ok := boot.LoopBreaker(s.Sightings, cfg)(netip.AddrPortFrom(leased, 2070), "undionly.kpxe")
	if !ok || !bytes.Contains(body, []byte("boot.ipxe?mac=52:54:00:ab:cd:08&arch=bios")) {
		t.Errorf("loop breaker: %v\n%s", ok, body)
	}
}

// checkProxyReply checks what every proxy reply must carry.
func checkProxyReply(t *testing.T, r, req *dhcp4.Packet, mt dhcp4.MessageType, server netip.Addr, file string) {
	t.Helper()
	if r.MessageType() != mt || r.XID != req.XID || !bytes.Equal(r.CHAddr, req.CHAddr) {
		t.Errorf("type %v xid %08x chaddr %v", r.MessageType(), r.XID, r.CHAddr)
	}
	if r.YIAddr != netip.IPv4Unspecified() || r.SIAddr != server {
		t.Errorf("yiaddr %v siaddr %v", r.YIAddr, r.SIAddr)
	}
	if string(r.Options.Get(dhcp4.OptVendorClass)) != "PXEClient" ||
		!bytes.Equal(r.Options.Get(dhcp4.OptVendorSpecific), []byte{6, 1, 8, 255}) {
		t.Errorf("option 60 %q option 43 %x", r.Options.Get(dhcp4.OptVendorClass), r.Options.Get(dhcp4.OptVendorSpecific))
	}
	if r.File != file || string(r.Options.Get(dhcp4.OptBootFile)) != file {
		t.Errorf("file %q option 67 %q, want %q", r.File, r.Options.Get(dhcp4.OptBootFile), file)
	}
}

// testWriter sends log lines to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(b, "\n")))
	return len(b), nil
}

// TestServePortTaken: a socket that holds port 4011 without SO_REUSEADDR
// (as a DHCP server that does not share would) makes Serve fail with
// ErrAddrInUse and a hint, and release port 67 again.
func TestServePortTaken(t *testing.T) {
	n := setupNetns(t)
	var holder net.PacketConn
	if err := inNetns(n.srvNS, func() (err error) {
		holder, err = net.ListenPacket("udp4", "0.0.0.0:4011")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	s := &ProxyServer{Config: Config{Interface: n.srvIf, ServerIP: n.srvIP, Decide: boot.Config{}.Decide}}
	var err error
	if e := inNetns(n.srvNS, func() error { err = s.Serve(t.Context()); return nil }); e != nil {
		t.Fatal(e)
	}
	if !errors.Is(err, ErrAddrInUse) || !strings.Contains(err.Error(), "another DHCP server on this host?") {
		t.Fatalf("Serve = %v, want ErrAddrInUse with a hint", err)
	}
	// Port 67 was closed again: a listen-only server can take it.
	s = &ProxyServer{Config: Config{Interface: n.srvIf}, Mode: ModeOff}
	stop := n.startServer(t, s)
	stop()
}

// TestInterfaceIPv4 reads addresses in the server namespace.
func TestInterfaceIPv4(t *testing.T) {
	n := setupNetns(t)
	if err := inNetns(n.srvNS, func() error {
		got, err := InterfaceIPv4(n.srvIf)
		if err != nil || got != n.srvIP {
			t.Errorf("InterfaceIPv4(%s) = %v, %v; want %v", n.srvIf, got, err, n.srvIP)
		}
		if _, err := exec.Command("ip", "-n", n.srvNS, "link", "add", "rbdummy0", "type", "dummy").CombinedOutput(); err == nil {
			if _, err := InterfaceIPv4("rbdummy0"); err == nil || !strings.Contains(err.Error(), "no IPv4 address") {
				t.Errorf("InterfaceIPv4(no address) = %v", err)
			}
		}
		if _, err := InterfaceIPv4("rb-nonexistent"); err == nil {
			t.Error("InterfaceIPv4 of a missing interface succeeded")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
