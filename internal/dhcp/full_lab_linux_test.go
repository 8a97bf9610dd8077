package dhcp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"rackboot/internal/lease"
	"rackboot/internal/store/boltstore"
)

// fullLab is a boot network for full-mode tests, made for one test and
// removed after it: a server namespace holding a bridge with the server's
// address, and any number of host namespaces, each joined to the bridge by a
// veth. Nothing touches the host's own interfaces. Processes the test starts
// in the namespaces are killed (by pid) before the namespaces go.
type fullLab struct {
	t       *testing.T
	id      string
	srvNS   string
	bridge  string
	srvIP   netip.Addr   // 10.251.X.1 on the bridge
	prefix  netip.Prefix // 10.251.X.0/24
	remote  netip.Prefix // 10.252.X.0/24, behind a relay
	dir     string
	mu      sync.Mutex
	nss     []string
	nhosts  int
	procs   []*exec.Cmd
	cleanup []func()
}

func newFullLab(t *testing.T) *fullLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip command")
	}
	sweepStaleNetns(t)
	var rnd [3]byte
	rand.Read(rnd[:])
	x := rnd[0]
	l := &fullLab{
		t: t, id: hex.EncodeToString(rnd[:]), dir: t.TempDir(),
		srvIP:  netip.AddrFrom4([4]byte{10, 251, x, 1}),
		prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 251, x, 0}), 24),
		remote: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 252, x, 0}), 24),
	}
	l.srvNS = netnsName("rbf-", l.id, "srv")
	l.bridge = "rbb" + l.id
	t.Cleanup(l.close)
	if out, err := exec.Command("ip", "netns", "add", l.srvNS).CombinedOutput(); err != nil {
		t.Skipf("cannot create network namespaces here: %v: %s", err, out)
	}
	l.nss = append(l.nss, l.srvNS)
	l.ip("-n", l.srvNS, "link", "add", l.bridge, "type", "bridge")
	l.ip("-n", l.srvNS, "addr", "add", l.srvIP.String()+"/24", "dev", l.bridge)
	l.ip("-n", l.srvNS, "link", "set", l.bridge, "up")
	l.ip("-n", l.srvNS, "link", "set", "lo", "up")
	return l
}

func (l *fullLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func (l *fullLab) close() {
	for i := len(l.cleanup) - 1; i >= 0; i-- {
		l.cleanup[i]()
	}
	l.mu.Lock()
	procs := l.procs
	l.mu.Unlock()
	for _, c := range procs {
		if c.Process != nil && c.ProcessState == nil {
			c.Process.Signal(syscall.SIGKILL)
		}
	}
	for _, ns := range l.nss {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			l.t.Logf("ip netns del %s: %v: %s", ns, err, out)
		}
	}
}

// addHost makes a namespace with one interface on the boot network (no
// address) and returns the namespace's and the interface's names.
func (l *fullLab) addHost(name string) (ns, ifname string) {
	l.t.Helper()
	l.nhosts++
	ns = netnsName("rbf-", l.id, name)
	ifname = fmt.Sprintf("rbh%s%d", l.id, l.nhosts)
	peer := fmt.Sprintf("rbp%s%d", l.id, l.nhosts)
	l.ip("netns", "add", ns)
	l.nss = append(l.nss, ns)
	l.ip("link", "add", ifname, "netns", ns, "type", "veth", "peer", "name", peer, "netns", l.srvNS)
	l.ip("-n", l.srvNS, "link", "set", peer, "master", l.bridge)
	l.ip("-n", l.srvNS, "link", "set", peer, "up")
	l.ip("-n", ns, "link", "set", ifname, "up")
	l.ip("-n", ns, "link", "set", "lo", "up")
	return ns, ifname
}

// addRelayedHost builds a second segment behind a router that runs ISC
// dhcrelay: the router's upstream leg is on the boot network
// (10.251.X.254), its downstream leg is 10.252.X.1, and the returned host
// namespace and interface sit on that downstream segment.
func (l *fullLab) addRelayedHost() (ns, ifname string) {
	l.t.Helper()
	requireTool(l.t, "dhcrelay")
	rns, up := l.addHost("relay")
	upAddr := netip.AddrFrom4([4]byte{10, 251, l.srvIP.As4()[2], 254})
	downAddr := l.remote.Addr().Next()
	l.ip("-n", rns, "addr", "add", upAddr.String()+"/24", "dev", up)
	ns = netnsName("rbf-", l.id, "far")
	ifname = "rbr" + l.id + "c"
	down := "rbr" + l.id + "r"
	l.ip("netns", "add", ns)
	l.nss = append(l.nss, ns)
	l.ip("link", "add", ifname, "netns", ns, "type", "veth", "peer", "name", down, "netns", rns)
	l.ip("-n", rns, "addr", "add", downAddr.String()+"/24", "dev", down)
	l.ip("-n", rns, "link", "set", down, "up")
	l.ip("-n", ns, "link", "set", ifname, "up")
	l.ip("-n", ns, "link", "set", "lo", "up")
	l.ip("-n", l.srvNS, "route", "add", l.remote.String(), "via", upAddr.String())
	if out, err := exec.Command("ip", "netns", "exec", rns, "sysctl", "-qw", "net.ipv4.ip_forward=1").CombinedOutput(); err != nil {
		l.t.Fatalf("ip_forward in the relay: %v: %s", err, out)
	}
	// -id: the interface clients are on; -iu: the one towards the server.
	l.start("dhcrelay", rns, "dhcrelay", "-d", "-4", "-id", down, "-iu", up, l.srvIP.String())
	return ns, ifname
}

// start runs a long-lived command in ns; it is killed when the test ends.
// Its output goes to the test log when the test fails.
func (l *fullLab) start(name, ns string, args ...string) *exec.Cmd {
	l.t.Helper()
	c := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	out := &strings.Builder{}
	var mu sync.Mutex
	c.Stdout, c.Stderr = lockedWriter{&mu, out}, lockedWriter{&mu, out}
	if err := c.Start(); err != nil {
		l.t.Fatalf("start %s: %v", name, err)
	}
	l.mu.Lock()
	l.procs = append(l.procs, c)
	l.mu.Unlock()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	l.cleanup = append(l.cleanup, func() {
		c.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			c.Process.Kill()
			<-done
		}
		if l.t.Failed() {
			mu.Lock()
			l.t.Logf("%s output:\n%s", name, out.String())
			mu.Unlock()
		}
	})
	return c
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// run runs a command in ns to its end and returns its combined output.
func (l *fullLab) run(ns string, timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
	c.WaitDelay = time.Second
	out, err := c.CombinedOutput()
	return string(out), err
}

func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("RACKBOOT_DHCP_CLIENTS_REQUIRED") != "" {
			t.Fatalf("%s is not installed (make deps-test installs it)", name)
		}
		t.Skipf("%s is not installed (make deps-test installs it)", name)
	}
}

// leaseConfig leases 10.251.X.100-199 on the boot network and
// 10.252.X.100-199 behind the relay.
func (l *fullLab) leaseConfig(leaseTime time.Duration) lease.Config {
	pool := func(p netip.Prefix) []lease.Range {
		b := p.Addr().As4()
		return []lease.Range{{First: netip.AddrFrom4([4]byte{b[0], b[1], b[2], 100}), Last: netip.AddrFrom4([4]byte{b[0], b[1], b[2], 199})}}
	}
	return lease.Config{
		Subnets: []lease.Subnet{
			{Prefix: l.prefix, Pools: pool(l.prefix), LeaseTime: leaseTime},
			{Prefix: l.remote, Pools: pool(l.remote), LeaseTime: leaseTime},
		},
		Exclude: []netip.Addr{l.srvIP},
	}
}

// startServer opens a lease store in dir and runs a FullServer on the
// bridge until the test ends.
func (l *fullLab) startServer(cfg lease.Config, setup func(*FullServer)) *FullServer {
	l.t.Helper()
	st, err := boltstore.Open(filepath.Join(l.dir, "store"), boltstore.Options{})
	if err != nil {
		l.t.Fatal(err)
	}
	m, err := lease.Open(context.Background(), st, cfg)
	if err != nil {
		l.t.Fatal(err)
	}
	s := &FullServer{
		Config: Config{
			Interface: l.bridge,
			ServerIP:  l.srvIP,
			Logger:    slog.New(slog.NewTextHandler(testWriter{l.t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		},
		Leases:         m,
		RogueDetection: true,
		Networks: []Network{
			{Prefix: l.prefix, Router: netip.AddrFrom4([4]byte{10, 251, l.srvIP.As4()[2], 254}),
				DNS: []netip.Addr{l.srvIP}, Domain: "rack.test"},
			{Prefix: l.remote, Router: l.remote.Addr().Next()},
		},
	}
	if setup != nil {
		setup(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked, see enterNetns
		if err := enterNetns(l.srvNS); err != nil {
			done <- err
			return
		}
		done <- s.Serve(ctx)
	}()
	l.cleanup = append(l.cleanup, func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				l.t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			l.t.Error("Serve did not return 5s after cancel")
		}
		m.Close()
		st.Close()
	})
	return s
}

// addrsOf lists the IPv4 addresses on ifname in ns.
func (l *fullLab) addrsOf(ns, ifname string) []netip.Prefix {
	out, err := exec.Command("ip", "-n", ns, "-4", "-o", "addr", "show", "dev", ifname).CombinedOutput()
	if err != nil {
		l.t.Fatalf("ip addr show: %v: %s", err, out)
	}
	var ps []netip.Prefix
	for _, f := range strings.Fields(string(out)) {
		if p, err := netip.ParsePrefix(f); err == nil && p.Addr().Is4() {
			ps = append(ps, p)
		}
	}
	return ps
}

// writeScript writes an executable shell script into the lab's directory.
func (l *fullLab) writeScript(name, body string) string {
	l.t.Helper()
	p := filepath.Join(l.dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		l.t.Fatal(err)
	}
	return p
}

// waitUntil polls cond every 100ms until it holds or d passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}
