//go:build linux

package ra

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"rackboot/internal/netnstest"
)

const nsPrefix = "rbra"

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		netnstest.SweepStale(nsPrefix)
	}
	os.Exit(m.Run())
}

// link is two namespaces joined by a veth pair: "srv" (veth0, where the
// responder runs) and "cli" (veth1, a booting machine or a router).
type link struct{ srv, cli string }

func newLink(t *testing.T) link {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	b := make([]byte, 3)
	rand.Read(b)
	id := hex.EncodeToString(b)
	l := link{srv: netnstest.Name(nsPrefix, id, "srv"), cli: netnstest.Name(nsPrefix, id, "cli")}
	for _, ns := range []string{l.srv, l.cli} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "delete", ns).Run() })
	}
	run(t, "ip", "-n", l.srv, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1", "netns", l.cli)
	for ns, dev := range map[string]string{l.srv: "veth0", l.cli: "veth1"} {
		// No duplicate address detection: the link-local address is usable
		// (not tentative) at once.
		run(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf."+dev+".accept_dad=0")
		run(t, "ip", "-n", ns, "link", "set", dev, "up")
	}
	return l
}

func run(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// inNetns runs fn on a thread in namespace ns. The thread is never
// returned to the runtime's pool: it ends with the goroutine.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// startResponder runs a responder on veth0 in l.srv until the test ends.
func startResponder(t *testing.T, l link) *Responder {
	t.Helper()
	var r *Responder
	err := inNetns(l.srv, func() (err error) {
		// Wait for the link-local address (and so the link) to be up.
		if _, err := waitLinkLocal("veth0"); err != nil {
			return err
		}
		r, err = Listen(Config{Interface: "veth0", Logger: slog.New(slog.DiscardHandler),
			Booting: func(mac net.HardwareAddr) bool { return bytes.Equal(mac, bootingMAC) }})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Serve looks the interface's addresses up again: in its namespace.
	go inNetns(l.srv, func() error { done <- r.Serve(ctx); return nil })
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return r
}

// waitLinkLocal waits up to 5 s for dev's IPv6 link-local address (in
// the calling thread's namespace).
func waitLinkLocal(dev string) (net.IP, error) {
	for i := 0; i < 250; i++ {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return nil, err
		}
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.IsLinkLocalUnicast() && ipn.IP.To4() == nil {
				return ipn.IP, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, errors.New(dev + ": no link-local address")
}

// peer is a raw ICMPv6 socket on veth1 in l.cli.
type peer struct {
	p   *ipv6.PacketConn
	ifi *net.Interface
	ll  net.IP
}

func newPeer(t *testing.T, l link) *peer {
	t.Helper()
	pr := &peer{}
	err := inNetns(l.cli, func() error {
		ifi, err := net.InterfaceByName("veth1")
		if err != nil {
			return err
		}
		if pr.ll, err = waitLinkLocal("veth1"); err != nil {
			return err
		}
		c, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
		if err != nil {
			return err
		}
		pr.ifi, pr.p = ifi, c.IPv6PacketConn()
		var f ipv6.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv6.ICMPTypeRouterAdvertisement)
		pr.p.SetICMPFilter(&f)
		pr.p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagInterface|ipv6.FlagDst, true)
		pr.p.SetMulticastInterface(ifi)
		pr.p.SetMulticastHopLimit(255)
		pr.p.SetHopLimit(255)
		pr.p.SetMulticastLoopback(false) // not its own fake router's advertisements
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.p.Close() })
	return pr
}

func (pr *peer) send(t *testing.T, b []byte, dst string) {
	t.Helper()
	cm := &ipv6.ControlMessage{HopLimit: 255, Src: pr.ll, IfIndex: pr.ifi.Index}
	if _, err := pr.p.WriteTo(b, cm, &net.IPAddr{IP: net.ParseIP(dst), Zone: pr.ifi.Name}); err != nil {
		t.Fatal(err)
	}
}

type received struct {
	a     Advertisement
	raw   []byte
	src   netip.Addr
	dst   net.IP
	hop   int
	flags byte
}

// advert waits up to d for a router advertisement.
func (pr *peer) advert(d time.Duration) (received, error) {
	buf := make([]byte, 1500)
	pr.p.SetReadDeadline(time.Now().Add(d))
	for {
		n, cm, src, err := pr.p.ReadFrom(buf)
		if err != nil {
			return received{}, err
		}
		if n == 0 || buf[0] != TypeRouterAdvertisement {
			continue
		}
		a, err := ParseAdvertisement(buf[:n])
		if err != nil {
			return received{}, fmt.Errorf("unparsable advertisement %x: %v", buf[:n], err)
		}
		ip, _ := netip.AddrFromSlice(src.(*net.IPAddr).IP)
		return received{a: a, raw: append([]byte(nil), buf[:n]...), src: ip, dst: cm.Dst, hop: cm.HopLimit, flags: buf[5]}, nil
	}
}

func TestNetnsAnswersBootingMachine(t *testing.T) {
	l := newLink(t)
	r := startResponder(t, l)
	pr := newPeer(t, l)
	pr.send(t, marshalSolicitation(bootingMAC), "ff02::2")
	got, err := pr.advert(3 * time.Second)
	if err != nil {
		t.Fatalf("no advertisement: %v (stats %+v)", err, r.Stats())
	}
	if got.a.Lifetime != 0 || got.a.Prefixes != 0 || got.a.Managed || got.a.Other || got.flags != 0 || got.a.HopLimit != 0 {
		t.Errorf("advertisement %+v (flags %#x) configures something", got.a, got.flags)
	}
	if got.hop != 255 {
		t.Errorf("arrived with hop limit %d, want 255", got.hop)
	}
	if !got.src.IsLinkLocalUnicast() {
		t.Errorf("source %v is not link-local", got.src)
	}
	if !got.dst.Equal(pr.ll) {
		t.Errorf("sent to %v, want the soliciting host %v", got.dst, pr.ll)
	}
	// Serve counts once its write has returned: the advertisement may
	// arrive first.
	for i := 0; i < 50 && r.Stats().Answered == 0; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if st := r.Stats(); st.Answered != 1 {
		t.Errorf("stats = %+v", st)
	}
	// A Linux host on the link keeps no default route and no global
	// address from it (the peer's kernel saw the same advertisement).
	time.Sleep(200 * time.Millisecond)
	if out := run(t, "ip", "-n", l.cli, "-6", "route", "show", "default"); strings.TrimSpace(out) != "" {
		t.Errorf("the host took a default route: %s", out)
	}
	if out := run(t, "ip", "-n", l.cli, "-6", "addr", "show", "scope", "global"); strings.TrimSpace(out) != "" {
		t.Errorf("the host took a global address: %s", out)
	}
}

func TestNetnsNotBooting(t *testing.T) {
	l := newLink(t)
	r := startResponder(t, l)
	pr := newPeer(t, l)
	pr.send(t, marshalSolicitation(otherMAC), "ff02::2")
	if got, err := pr.advert(1500 * time.Millisecond); err == nil {
		t.Fatalf("advertisement %+v sent to a machine that is not booting", got.a)
	}
	// The peer's kernel solicits too when its link comes up (its own MAC,
	// not booting either): at least one.
	if st := r.Stats(); st.NotBooting < 1 || st.Answered != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestNetnsRealRouterSilences(t *testing.T) {
	l := newLink(t)
	r := startResponder(t, l)
	pr := newPeer(t, l)
	// A fake router on the link: lifetime 1800, to all-nodes.
	pr.send(t, Advertisement{HopLimit: 64, Lifetime: 1800, SourceMAC: otherMAC}.Marshal(), "ff02::1")
	deadline := time.Now().Add(2 * time.Second)
	for !r.Stats().Silent && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !r.Stats().Silent {
		t.Fatalf("the router's advertisement went unheard: %+v", r.Stats())
	}
	pr.send(t, marshalSolicitation(bootingMAC), "ff02::2")
	if got, err := pr.advert(1500 * time.Millisecond); err == nil {
		t.Fatalf("advertisement %+v sent while a real router advertises", got.a)
	}
	if st := r.Stats(); st.SuppressedByRouter != 1 || st.Answered != 0 {
		t.Errorf("stats = %+v", st)
	}
}
