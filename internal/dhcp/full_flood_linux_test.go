package dhcp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"rackboot/internal/dhcp4"
	"rackboot/internal/lease"
)

// flooder sends DHCPDISCOVERs from made-up MACs, as a starvation attack
// does, from a host namespace of the lab. It never REQUESTs and never
// reads the OFFERs (the kernel drops them when its buffer is full).
type flooder struct {
	conn *net.UDPConn
	macs int
	sent atomic.Uint64
}

func newFlooder(t *testing.T, ns, ifname string, macs int) *flooder {
	t.Helper()
	f := &flooder{macs: macs}
	err := inNetns(ns, func() error {
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = errors.Join(
					unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1),
					unix.BindToDevice(int(fd), ifname))
			})
			return errors.Join(err, serr)
		}}
		pc, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:68")
		if err == nil {
			f.conn = pc.(*net.UDPConn)
		}
		return err
	})
	if err != nil {
		t.Fatalf("flood socket: %v", err)
	}
	t.Cleanup(func() { f.conn.Close() })
	return f
}

// discover sends one DISCOVER from the i-th made-up MAC (i modulo macs).
func (f *flooder) discover(i int) error {
	n := i % f.macs
	p := &dhcp4.Packet{Op: dhcp4.OpRequest, HType: 1, XID: uint32(i) | 0xf1000000, Flags: dhcp4.FlagBroadcast,
		CHAddr:  net.HardwareAddr{0x02, 0xf1, 0, byte(n >> 16), byte(n >> 8), byte(n)},
		Options: dhcp4.Options{dhcp4.OptMessageType: {byte(dhcp4.Discover)}}}
	_, err := f.conn.WriteToUDPAddrPort(p.Marshal(), limitedBcast67)
	f.sent.Add(1)
	return err
}

// run sends perTick DISCOVERs every 10 ms, from the MACs in turn starting
// at from, until ctx ends or limit are sent: bounded in rate and count.
func (f *flooder) run(ctx context.Context, from, perTick, limit int) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := from; i < from+limit; {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		for end := min(i+perTick, from+limit); i < end; i++ {
			if err := f.discover(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestFullFloodDoesNotStarveDhclient: a /24 pool of 253 addresses is
// flooded with DISCOVERs from ten times as many MACs, which never REQUEST.
// The pool fills with their offers; then, with the flood still going, a
// real dhclient gets a lease at its first DISCOVER: the oldest held offer
// is taken for it, and its REQUEST wins over the flood's offers.
func TestFullFloodDoesNotStarveDhclient(t *testing.T) {
	l := newFullLab(t)
	requireTool(t, "dhclient")
	b := l.prefix.Addr().As4()
	cfg := lease.Config{
		Subnets: []lease.Subnet{{Prefix: l.prefix, LeaseTime: 10 * time.Minute,
			Pools: []lease.Range{{First: netip.AddrFrom4([4]byte{b[0], b[1], b[2], 2}), Last: netip.AddrFrom4([4]byte{b[0], b[1], b[2], 254})}}}},
		Exclude: []netip.Addr{l.srvIP},
	}
	const pool, macs = 253, 2530
	s := l.startServer(cfg, func(s *FullServer) {
		// Per-packet debug lines would be thousands here.
		s.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	usage := func() lease.SubnetUsage { return s.Leases.Usage()[0] }

	fns, fif := l.addHost("flood")
	f := newFlooder(t, fns, fif, macs)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// Every MAC once, at 2 000/s; the pool is then full of offers and the
	// later MACs took the older ones.
	if err := f.run(ctx, 0, 20, macs); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "a pool full of the flood's offers", func() bool {
		u := usage()
		return u.Leases[lease.Offered] == pool && u.OffersTaken > 0
	})
	t.Logf("after %d DISCOVERs: %+v", f.sent.Load(), usage())

	// The flood goes on at 1 000/s while dhclient asks: a full pool's
	// worth of offers taken every quarter second.
	var wg sync.WaitGroup
	var floodErr error
	floodCtx, stopFlood := context.WithCancel(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		floodErr = f.run(floodCtx, macs, 10, 60*1000) // the socket is in the namespace, whatever thread sends
	}()
	ns, ifn := l.addHost("dhclient")
	waitUntil(t, 10*time.Second, "the flood going on", func() bool { return f.sent.Load() >= macs+200 })
	taken := usage().OffersTaken
	d := newDhclient(l, "dhclient", ns, ifn)
	out, err := d.get()
	stopFlood()
	wg.Wait()
	if err != nil {
		t.Fatalf("dhclient under the flood: %v\n%s", err, out)
	}
	if floodErr != nil {
		t.Fatalf("flood: %v", floodErr)
	}
	checkBound(t, l, s, ns, ifn, l.prefix)
	// "within its first retries": dhclient retransmits DISCOVER after 3 s
	// or more; one or two DISCOVERs is a lease at the first try or its
	// first retry.
	if n := strings.Count(out, "DHCPDISCOVER"); n > 2 {
		t.Errorf("dhclient needed %d DISCOVERs under the flood, want at most 2:\n%s", n, out)
	}
	u := usage()
	if u.OffersTaken <= taken {
		t.Errorf("the flood took no offers while dhclient asked (%d before, %d after): it was not flooding", taken, u.OffersTaken)
	}
	t.Logf("%d DISCOVERs sent in all; %+v; dhclient:\n%s", f.sent.Load(), u, out)
}
