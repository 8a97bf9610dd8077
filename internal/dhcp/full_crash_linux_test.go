package dhcp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"rackboot/internal/dhcp4"
	"rackboot/internal/lease"
	"rackboot/internal/store/boltstore"
)

// The crash test: a rackboot DHCP server in its own process, under load
// from many clients at once, is killed with SIGKILL and started again on
// the same lease store. Every lease a client got an ACK for must still be
// there, ACKed again to the same client, and no address may ever have
// been ACKed to two clients.
//
// The load comes from a relay agent of ours (like perfdhcp, it sends as a
// relay: giaddr is its own address and the replies come back to it by
// unicast), so that thousands of simulated clients share one socket.

// crashNet is the relayed subnet the simulated clients lease in.
var crashNet = netip.MustParsePrefix("10.254.0.0/16")

const crashEnv = "RACKBOOT_DHCP_CRASH_SERVER" // "dir iface serverIP": run TestFullCrashServer as the server

// TestFullCrashServer is not a test: it is the server process of
// TestFullKill9UnderLoad, started as a copy of the test binary.
func TestFullCrashServer(t *testing.T) {
	spec := os.Getenv(crashEnv)
	if spec == "" {
		t.Skip("the server process of TestFullKill9UnderLoad")
	}
	var dir, iface, sip string
	if _, err := fmt.Sscan(spec, &dir, &iface, &sip); err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	st, err := boltstore.Open(dir, boltstore.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := lease.Open(ctx, st, lease.Config{Subnets: []lease.Subnet{{Prefix: crashNet, LeaseTime: time.Hour,
		Pools: []lease.Range{{First: netip.MustParseAddr("10.254.1.0"), Last: netip.MustParseAddr("10.254.255.254")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := &FullServer{Config: Config{Interface: iface, ServerIP: netip.MustParseAddr(sip)}, Leases: m}
	if err := s.Serve(ctx); err != nil {
		t.Fatal(err)
	}
}

// crashServer runs the server process in the lab's server namespace.
type crashServer struct {
	l   *fullLab
	dir string
	cmd *exec.Cmd
}

func (c *crashServer) start() {
	c.l.t.Helper()
	exe, err := os.Executable()
	if err != nil {
		c.l.t.Fatal(err)
	}
	// ip netns exec execs the command in place: the pid is the server's.
	cmd := exec.Command("ip", "netns", "exec", c.l.srvNS, exe, "-test.run=^TestFullCrashServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s", crashEnv, c.dir, c.l.bridge, c.l.srvIP))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		c.l.t.Fatal(err)
	}
	c.cmd = cmd
}

func (c *crashServer) kill9() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	c.cmd.Wait()
}

// relayLoad simulates DHCP clients behind a relay at giaddr.
type relayLoad struct {
	conn   *net.UDPConn
	server netip.AddrPort
	giaddr netip.Addr
	mu     sync.Mutex
	wait   map[uint32]chan *dhcp4.Packet
	macs   atomic.Uint32
}

func newRelayLoad(t *testing.T, l *fullLab, ns string, giaddr netip.Addr) *relayLoad {
	var c *net.UDPConn
	if err := inNetns(ns, func() error {
		uc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(giaddr, dhcp4.PortServer)))
		c = uc
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r := &relayLoad{conn: c, server: netip.AddrPortFrom(l.srvIP, dhcp4.PortServer), giaddr: giaddr, wait: map[uint32]chan *dhcp4.Packet{}}
	go r.read()
	t.Cleanup(func() { c.Close() })
	return r
}

func (r *relayLoad) read() {
	buf := make([]byte, 2048)
	for {
		n, err := r.conn.Read(buf)
		if err != nil {
			return
		}
		p, err := dhcp4.Parse(buf[:n])
		if err != nil || p.Op != dhcp4.OpReply {
			continue
		}
		r.mu.Lock()
		ch := r.wait[p.XID]
		r.mu.Unlock()
		if ch != nil {
			select {
			case ch <- p:
			default:
			}
		}
	}
}

// ask sends req until a reply of one of the wanted types comes or tries run out.
func (r *relayLoad) ask(req *dhcp4.Packet, tries int, each time.Duration) (*dhcp4.Packet, error) {
	ch := make(chan *dhcp4.Packet, 4)
	r.mu.Lock()
	r.wait[req.XID] = ch
	r.mu.Unlock()
	defer func() { r.mu.Lock(); delete(r.wait, req.XID); r.mu.Unlock() }()
	b := req.Marshal()
	for range tries {
		if _, err := r.conn.WriteToUDPAddrPort(b, r.server); err != nil {
			return nil, err
		}
		select {
		case p := <-ch:
			return p, nil
		case <-time.After(each):
		}
	}
	return nil, errors.New("no reply")
}

func (r *relayLoad) newClient() net.HardwareAddr {
	n := r.macs.Add(1)
	return net.HardwareAddr{0x02, 0xcc, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

func (r *relayLoad) packet(mt dhcp4.MessageType, mac net.HardwareAddr, opts ...reqOpt) *dhcp4.Packet {
	p := &dhcp4.Packet{Op: dhcp4.OpRequest, HType: 1, Hops: 1, XID: rand.Uint32(), GIAddr: r.giaddr,
		CHAddr: mac, Options: dhcp4.Options{dhcp4.OptMessageType: {byte(mt)}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

// dora gets a lease for mac: the ACKed address, or an error.
func (r *relayLoad) dora(mac net.HardwareAddr) (netip.Addr, error) {
	offer, err := r.ask(r.packet(dhcp4.Discover, mac), 3, 300*time.Millisecond)
	if err != nil {
		return netip.Addr{}, err
	}
	sid := offer.ServerID()
	ack, err := r.ask(r.packet(dhcp4.Request, mac, withServerID(sid), withRequestedIP(offer.YIAddr)), 3, 300*time.Millisecond)
	if err != nil {
		return netip.Addr{}, err
	}
	if ack.MessageType() != dhcp4.Ack {
		return netip.Addr{}, fmt.Errorf("%v", ack.MessageType())
	}
	return ack.YIAddr, nil
}

// ackBook is the clients' own view: every ACK any of them received.
type ackBook struct {
	mu    sync.Mutex
	byMAC map[string]netip.Addr
	byIP  map[netip.Addr]string
	errs  []string
}

func (b *ackBook) add(mac net.HardwareAddr, ip netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if prev, ok := b.byIP[ip]; ok && prev != mac.String() {
		b.errs = append(b.errs, fmt.Sprintf("%v ACKed to %s and to %s", ip, prev, mac))
	}
	if prev, ok := b.byMAC[mac.String()]; ok && prev != ip {
		b.errs = append(b.errs, fmt.Sprintf("%s ACKed %v and %v", mac, prev, ip))
	}
	b.byMAC[mac.String()], b.byIP[ip] = ip, mac.String()
}

func TestFullKill9UnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 under load takes ~15s")
	}
	l := newFullLab(t)
	genNS, genIf := l.addHost("load")
	giaddr := crashNet.Addr().Next() // 10.254.0.1
	l.ip("-n", genNS, "addr", "add", giaddr.String()+"/16", "dev", genIf)
	l.ip("-n", genNS, "route", "add", l.prefix.String(), "dev", genIf)
	l.ip("-n", l.srvNS, "route", "add", crashNet.String(), "dev", l.bridge)

	srv := &crashServer{l: l, dir: filepath.Join(l.dir, "store")}
	srv.start()
	l.cleanup = append(l.cleanup, func() { srv.kill9() })
	load := newRelayLoad(t, l, genNS, giaddr)
	waitUntil(t, 10*time.Second, "the server", func() bool {
		_, err := load.ask(load.packet(dhcp4.Discover, load.newClient()), 1, 200*time.Millisecond)
		return err == nil
	})

	book := &ackBook{byMAC: map[string]netip.Addr{}, byIP: map[netip.Addr]string{}}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var acked atomic.Int64
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				mac := load.newClient()
				if ip, err := load.dora(mac); err == nil {
					book.add(mac, ip)
					acked.Add(1)
				}
			}
		}()
	}
	// Load, then SIGKILL while requests are in flight.
	waitUntil(t, 20*time.Second, "500 leases before the kill", func() bool { return acked.Load() >= 500 })
	srv.kill9()
	before := acked.Load()
	t.Logf("killed the server after %d ACKs", before)
	time.Sleep(500 * time.Millisecond)
	srv.start()
	waitUntil(t, 20*time.Second, "500 more leases after the restart", func() bool { return acked.Load() >= before+500 })
	stop.Store(true)
	wg.Wait()

	// Every client asks again for its address, as after a reboot
	// (INIT-REBOOT): each must get it back, none may be told NAK.
	book.mu.Lock()
	macs := make(map[string]netip.Addr, len(book.byMAC))
	for m, ip := range book.byMAC {
		macs[m] = ip
	}
	book.mu.Unlock()
	var lost atomic.Int64
	var nakMu sync.Mutex
	var naks []string
	sem := make(chan struct{}, 32)
	for m, ip := range macs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			hw, _ := net.ParseMAC(m)
			p, err := load.ask(load.packet(dhcp4.Request, hw, withRequestedIP(ip)), 5, 300*time.Millisecond)
			if err != nil {
				lost.Add(1)
				return
			}
			if p.MessageType() != dhcp4.Ack || p.YIAddr != ip {
				nakMu.Lock()
				naks = append(naks, fmt.Sprintf("%s asked for its %v: %v %v %q", m, ip, p.MessageType(), p.YIAddr, p.Options.Get(dhcp4.OptMessage)))
				nakMu.Unlock()
			}
		}()
	}
	wg.Wait()
	srv.kill9()
	for _, e := range book.errs {
		t.Error(e)
	}
	for _, e := range naks {
		t.Error(e)
	}
	if lost.Load() > 0 {
		t.Errorf("%d clients got no answer to INIT-REBOOT", lost.Load())
	}

	// The lease list, read from the store the dead server left.
	st, err := boltstore.Open(srv.dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ls, err := lease.List(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[netip.Addr]lease.Lease{}
	boundPerMAC := map[string]int{}
	for _, l := range ls {
		stored[l.IP] = l
		if l.State == lease.Bound {
			boundPerMAC[l.MAC.String()]++
		}
	}
	missing := 0
	for m, ip := range macs {
		if rec, ok := stored[ip]; !ok || rec.MAC.String() != m || rec.State != lease.Bound {
			missing++
			if missing <= 10 {
				t.Errorf("ACKed %v to %s; the store has %+v", ip, m, rec)
			}
		}
	}
	for m, n := range boundPerMAC {
		if n > 1 {
			t.Errorf("%s has %d bound leases", m, n)
		}
	}
	t.Logf("%d clients ACKed (%d before the kill), %d leases stored, %d missing", len(macs), before, len(ls), missing)
}
