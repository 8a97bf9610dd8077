//go:build linux

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"

	"rackboot/internal/netnstest"
)

// Bridge is the name of the lab's bridge inside the server namespace.
const Bridge = "br0"

// Lab is one test's private network: a namespace "server" holding the bridge
// br0 with the server's address, taps on br0 for QEMU clients, and other
// hosts (namespaces) joined to br0 by veth pairs. Nothing in it can reach or
// be reached from the host's own interfaces.
//
// Interface names only need to be unique inside a namespace, so they are
// plain (tap0, tap1, vh-dhcp; eth0 inside a host); the namespaces carry the
// run's unique names.
type Lab struct {
	ID       string       // random, unique per lab
	Server   Netns        // holds br0, the taps, rackboot, tftpd and QEMU
	Subnet   netip.Prefix // a random /24 in 10.231.0.0–10.239.255.0
	ServerIP netip.Addr   // .1 of Subnet, on br0
	Out      string       // output directory (logs, serial consoles)

	mu    sync.Mutex
	taps  int
	hosts map[string]*Host
	logs  []labLog
}

type labLog struct {
	name, path string
	serial     bool
}

// Host is another machine on the lab network: a namespace whose eth0 is a
// veth whose other end is enslaved to br0.
type Host struct {
	Name  string
	NS    Netns
	IP    netip.Addr // its static address; none for AddDHCPClientHost
	Iface string     // "eth0"
}

// NewLab builds the server namespace and its bridge. Cleanup (also when the
// test fails or times out through its context) stops everything started in
// the lab, prints the logs if the test failed, and deletes the namespaces.
func NewLab(t testing.TB) *Lab {
	t.Helper()
	RequireRoot(t)
	RequireCommands(t, "ip")
	l := &Lab{ID: randomHex(3), Out: OutDir(t), hosts: map[string]*Host{}}
	l.Subnet = randomSubnet()
	l.ServerIP = l.Subnet.Addr().Next()
	l.Server = addNetns(t, l.nsName("srv"))
	// Registered after the namespace deletion, so it runs before it (cleanups
	// run last-in first-out) and after the processes started later are stopped.
	t.Cleanup(func() {
		if t.Failed() {
			l.dumpLogs(t)
		}
	})
	ns := l.Server.Name
	mustRun(t, "ip", "-n", ns, "link", "add", Bridge, "type", "bridge", "stp_state", "0", "forward_delay", "0")
	mustRun(t, "ip", "-n", ns, "addr", "add", fmt.Sprintf("%s/%d", l.ServerIP, l.Subnet.Bits()), "dev", Bridge)
	mustRun(t, "ip", "-n", ns, "link", "set", Bridge, "up")
	t.Logf("lab %s: namespace %s, %s on %s, output in %s", l.ID, ns, l.ServerIP, Bridge, l.Out)
	return l
}

func (l *Lab) nsName(role string) string {
	return netnstest.Name(nsPrefix, l.ID, role)
}

// Addr returns the lab address with the given last octet (1 is the server).
func (l *Lab) Addr(last byte) netip.Addr {
	a := l.Subnet.Addr().As4()
	a[3] = last
	return netip.AddrFrom4(a)
}

// AddTap creates a tap device on br0 for one QEMU NIC and returns its name.
func (l *Lab) AddTap(t testing.TB) string {
	t.Helper()
	l.mu.Lock()
	name := fmt.Sprintf("tap%d", l.taps)
	l.taps++
	l.mu.Unlock()
	ns := l.Server.Name
	mustRun(t, "ip", "-n", ns, "tuntap", "add", "dev", name, "mode", "tap")
	mustRun(t, "ip", "-n", ns, "link", "set", name, "master", Bridge, "up")
	return name
}

// AddHost creates another host on the lab network: a namespace joined to br0
// by a veth, with ip on its eth0. name must be short (it names the bridge end
// of the veth, "vh-<name>", at most 15 characters).
func (l *Lab) AddHost(t testing.TB, name string, ip netip.Addr) *Host {
	t.Helper()
	if !l.Subnet.Contains(ip) {
		t.Fatalf("host %s: %s is not in the lab subnet %s", name, ip, l.Subnet)
	}
	return l.addHost(t, name, ip)
}

// AddDHCPClientHost creates a host like AddHost whose eth0 is up without an
// address: a DHCP client (StartDhclient) gives it one.
func (l *Lab) AddDHCPClientHost(t testing.TB, name string) *Host {
	t.Helper()
	return l.addHost(t, name, netip.Addr{})
}

// addHost is AddHost; an invalid ip leaves eth0 without an address.
func (l *Lab) addHost(t testing.TB, name string, ip netip.Addr) *Host {
	t.Helper()
	bridgeEnd := "vh-" + name
	if len(bridgeEnd) > 15 {
		t.Fatalf("host name %q too long: interface %q exceeds 15 characters", name, bridgeEnd)
	}
	h := &Host{Name: name, NS: addNetns(t, l.nsName(name)), IP: ip, Iface: "eth0"}
	srv := l.Server.Name
	mustRun(t, "ip", "-n", srv, "link", "add", bridgeEnd, "type", "veth", "peer", "name", h.Iface, "netns", h.NS.Name)
	mustRun(t, "ip", "-n", srv, "link", "set", bridgeEnd, "master", Bridge, "up")
	if ip.IsValid() {
		mustRun(t, "ip", "-n", h.NS.Name, "addr", "add", fmt.Sprintf("%s/%d", ip, l.Subnet.Bits()), "dev", h.Iface)
	}
	mustRun(t, "ip", "-n", h.NS.Name, "link", "set", h.Iface, "up")
	l.mu.Lock()
	l.hosts[name] = h
	l.mu.Unlock()
	return h
}

// Start runs argv inside ns in the background, with its output in
// <Out>/<name>.log; the process is stopped at cleanup and its log printed if
// the test fails.
func (l *Lab) Start(t testing.TB, ns Netns, name string, argv ...string) *Process {
	t.Helper()
	logPath := filepath.Join(l.Out, name+".log")
	p, err := startProcess(name, logPath, ns.Command(argv...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	l.AddLog(name, logPath, false)
	return p
}

// Exec runs a short command inside ns and fails t if it fails.
func (l *Lab) Exec(t testing.TB, ns Netns, argv ...string) string {
	t.Helper()
	out, err := ns.Exec(context.Background(), argv...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// AddLog registers a file to print (its tail) if the test fails. serial marks
// a serial console capture, printed as plain text.
func (l *Lab) AddLog(name, path string, serial bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logs = append(l.logs, labLog{name, path, serial})
}

func (l *Lab) dumpLogs(t testing.TB) {
	l.mu.Lock()
	logs := append([]labLog(nil), l.logs...)
	l.mu.Unlock()
	for _, lg := range logs {
		dumpLog(t, lg.name, lg.path, lg.serial)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// randomSubnet picks a /24 in 10.231.0.0/16 … 10.239.0.0/16.
func randomSubnet() netip.Prefix {
	n, err := rand.Int(rand.Reader, big.NewInt(9*256))
	if err != nil {
		panic(err)
	}
	v := int(n.Int64())
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(231 + v/256), byte(v % 256), 0}), 24)
}
