package dhcp

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"rackboot/internal/lease"
)

// These tests run real DHCP clients against FullServer in network
// namespaces (see fullLab): ISC dhclient, BusyBox udhcpc and dhcpcd get
// leases, renew, release and decline; dhclient behind ISC dhcrelay gets an
// address from the relay's subnet. Each client runs a script of ours that
// logs what it was told and sets the address with ip(8), so that the
// client's own view can be compared with the server's lease list.

// dhclientScript: %[1]s is the log, %[2]s a file whose presence makes the
// next BOUND fail, which makes dhclient send DHCPDECLINE (dhclient(8):
// "if the script exits non-zero on BOUND ... a DHCPDECLINE is sent").
const dhclientScript = `
echo "$reason ip=$new_ip_address mask=$new_subnet_mask routers=$new_routers dns=$new_domain_name_servers domain=$new_domain_name lease=$new_dhcp_lease_time server=$new_dhcp_server_identifier" >> %[1]s
case "$reason" in
BOUND|RENEW|REBIND|REBOOT)
	if [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ]; then
		ip addr del "$old_ip_address/$old_subnet_mask" dev "$interface" 2>/dev/null
	fi
	if [ "$reason" = BOUND ] && [ -e %[2]s ]; then
		rm -f %[2]s
		exit 1
	fi
	ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface"
	;;
EXPIRE|FAIL|RELEASE|STOP)
	[ -n "$old_ip_address" ] && ip addr del "$old_ip_address/$old_subnet_mask" dev "$interface" 2>/dev/null
	;;
esac
exit 0
`

// dhclient runs ISC dhclient in one namespace.
type dhclient struct {
	l                           *fullLab
	ns, ifname                  string
	log, marker, script, lf, pf string
}

func newDhclient(l *fullLab, name, ns, ifname string) *dhclient {
	d := &dhclient{l: l, ns: ns, ifname: ifname,
		log: filepath.Join(l.dir, name+".log"), marker: filepath.Join(l.dir, name+".decline"),
		lf: filepath.Join(l.dir, name+".leases"), pf: filepath.Join(l.dir, name+".pid")}
	d.script = l.writeScript(name+".sh", fmt.Sprintf(dhclientScript, d.log, d.marker))
	l.cleanup = append(l.cleanup, d.kill)
	return d
}

// get runs dhclient -1: it returns once bound (dhclient then goes on in the
// background, renewing) or when it gave up.
func (d *dhclient) get() (string, error) {
	return d.l.run(d.ns, 60*time.Second, "dhclient", "-4", "-1", "-v", "-lf", d.lf, "-pf", d.pf, "-sf", d.script, d.ifname)
}

// release runs dhclient -r: DHCPRELEASE, and the background dhclient ends.
func (d *dhclient) release() (string, error) {
	return d.l.run(d.ns, 30*time.Second, "dhclient", "-4", "-r", "-v", "-lf", d.lf, "-pf", d.pf, "-sf", d.script, d.ifname)
}

// kill ends the background dhclient. It is found by its lease file, a
// path of this test's own, among the processes' arguments: its pid file is
// written by the daemon after the command that started it returned, and
// may not be there yet.
func (d *dhclient) kill() {
	for _, pid := range pidsWithArg(d.lf) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	os.Remove(d.pf)
}

// pidsWithArg lists the processes that have arg as one of their arguments.
func pidsWithArg(arg string) []int {
	dirs, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, a := range strings.Split(string(b), "\x00") {
			if a == arg {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

func (d *dhclient) logText() string { b, _ := os.ReadFile(d.log); return string(b) }

// macOf reads ifname's MAC in ns.
func macOf(t *testing.T, ns, ifname string) net.HardwareAddr {
	t.Helper()
	var hw net.HardwareAddr
	if err := inNetns(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err == nil {
			hw = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return hw
}

// leaseOf finds the server's lease record for mac.
func leaseOf(s *FullServer, mac net.HardwareAddr) (lease.Lease, bool) {
	var found lease.Lease
	ok := false
	for _, l := range s.Leases.List() {
		if l.MAC.String() == mac.String() && (!ok || l.Start.After(found.Start)) {
			found, ok = l, true
		}
	}
	return found, ok
}

// checkBound checks that the client's interface holds exactly the address
// the server has bound to its MAC, inside want.
func checkBound(t *testing.T, l *fullLab, s *FullServer, ns, ifname string, want netip.Prefix) netip.Addr {
	t.Helper()
	mac := macOf(t, ns, ifname)
	rec, ok := leaseOf(s, mac)
	if !ok || rec.State != lease.Bound {
		t.Fatalf("server has no bound lease for %v: %+v", mac, s.Leases.List())
	}
	addrs := l.addrsOf(ns, ifname)
	if len(addrs) != 1 || addrs[0].Addr() != rec.IP || addrs[0].Bits() != want.Bits() || !want.Contains(rec.IP) {
		t.Fatalf("client %s has %v; server leased %v (want inside %v)", ifname, addrs, rec.IP, want)
	}
	return rec.IP
}

func TestFullDhclient(t *testing.T) {
	l := newFullLab(t)
	requireTool(t, "dhclient")
	// A 20s lease: dhclient renews (RENEWING, unicast) at T1 = 10s.
	s := l.startServer(l.leaseConfig(20*time.Second), nil)
	ns, ifn := l.addHost("dhclient")
	d := newDhclient(l, "dhclient", ns, ifn)

	if out, err := d.get(); err != nil {
		t.Fatalf("dhclient: %v\n%s", err, out)
	}
	ip := checkBound(t, l, s, ns, ifn, l.prefix)
	log := d.logText()
	want := fmt.Sprintf("BOUND ip=%v mask=255.255.255.0 routers=%v dns=%v domain=rack.test lease=20 server=%v",
		ip, netip.AddrFrom4([4]byte{10, 251, l.srvIP.As4()[2], 254}), l.srvIP, l.srvIP)
	if !strings.Contains(log, want) {
		t.Errorf("dhclient was told:\n%s\nwant a line %q", log, want)
	}

	// Renewal: dhclient's own RENEW, to our unicast address.
	acks := s.Stats().Acks
	waitUntil(t, 20*time.Second, "dhclient's renewal", func() bool { return strings.Contains(d.logText(), "RENEW ip="+ip.String()) })
	if s.Stats().Acks <= acks {
		t.Errorf("server ACKs %d after the renewal, were %d", s.Stats().Acks, acks)
	}
	if rec, _ := leaseOf(s, macOf(t, ns, ifn)); rec.IP != ip || rec.State != lease.Bound {
		t.Errorf("after renewal: %+v", rec)
	}

	// Release: the lease is released at the server, the address gone at the client.
	if out, err := d.release(); err != nil {
		t.Fatalf("dhclient -r: %v\n%s", err, out)
	}
	waitUntil(t, 5*time.Second, "the released lease", func() bool {
		rec, _ := leaseOf(s, macOf(t, ns, ifn))
		return rec.State == lease.Released
	})
	if addrs := l.addrsOf(ns, ifn); len(addrs) != 0 {
		t.Errorf("client still has %v after release", addrs)
	}

	// Decline: the script refuses the address, dhclient sends DHCPDECLINE,
	// the address goes into quarantine, and the next try gets another one.
	os.Remove(d.lf) // start from INIT, not INIT-REBOOT
	os.WriteFile(d.marker, nil, 0o644)
	out, _ := d.get()
	if !strings.Contains(out, "DHCPDECLINE") {
		t.Fatalf("dhclient did not decline:\n%s", out)
	}
	var declined netip.Addr
	waitUntil(t, 5*time.Second, "the quarantine", func() bool {
		for _, r := range s.Leases.List() {
			if r.State == lease.Declined {
				declined = r.IP
				return true
			}
		}
		return false
	})
	d.kill()
	if out, err := d.get(); err != nil {
		t.Fatalf("dhclient after the decline: %v\n%s", err, out)
	}
	if again := checkBound(t, l, s, ns, ifn, l.prefix); again == declined {
		t.Errorf("got the declined address %v again", again)
	}
	if st := s.Stats(); st.Declines != 1 || st.Releases != 1 {
		t.Errorf("stats %+v", st)
	}
}

// udhcpcScript logs BusyBox udhcpc's events and sets the address.
const udhcpcScript = `
echo "$1 ip=$ip mask=$mask router=$router dns=$dns domain=$domain lease=$lease serverid=$serverid" >> %[1]s
case "$1" in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	;;
deconfig)
	ip addr flush dev "$interface"
	;;
esac
exit 0
`

func TestFullUdhcpc(t *testing.T) {
	l := newFullLab(t)
	requireTool(t, "busybox")
	s := l.startServer(l.leaseConfig(time.Hour), nil)
	ns, ifn := l.addHost("udhcpc")
	logf := filepath.Join(l.dir, "udhcpc.log")
	script := l.writeScript("udhcpc.sh", fmt.Sprintf(udhcpcScript, logf))
	logText := func() string { b, _ := os.ReadFile(logf); return string(b) }
	// -f: foreground; -R: release on exit; -t/-T: 10 tries 1s apart.
	c := l.start("udhcpc", ns, "busybox", "udhcpc", "-f", "-R", "-i", ifn, "-s", script, "-t", "10", "-T", "1")
	waitUntil(t, 20*time.Second, "udhcpc's lease", func() bool {
		return strings.Contains(logText(), "bound ip=") && len(l.addrsOf(ns, ifn)) == 1
	})
	ip := checkBound(t, l, s, ns, ifn, l.prefix)
	if want := fmt.Sprintf("bound ip=%v mask=24 router=10.251.%d.254 dns=%v domain=rack.test lease=3600 serverid=%v",
		ip, l.srvIP.As4()[2], l.srvIP, l.srvIP); !strings.Contains(logText(), want) {
		t.Errorf("udhcpc was told:\n%s\nwant %q", logText(), want)
	}

	// SIGUSR1: renew now (a unicast REQUEST with ciaddr: RENEWING).
	acks := s.Stats().Acks
	c.Process.Signal(syscall.SIGUSR1)
	waitUntil(t, 10*time.Second, "udhcpc's renewal", func() bool { return s.Stats().Acks > acks && strings.Contains(logText(), "renew ip="+ip.String()) })

	// SIGUSR2: release.
	c.Process.Signal(syscall.SIGUSR2)
	waitUntil(t, 10*time.Second, "the release", func() bool {
		rec, _ := leaseOf(s, macOf(t, ns, ifn))
		return rec.State == lease.Released
	})
	waitUntil(t, 5*time.Second, "udhcpc to drop the address", func() bool { return len(l.addrsOf(ns, ifn)) == 0 })
}

// dhcpcdScript logs dhcpcd's events; dhcpcd sets addresses itself.
const dhcpcdScript = `
echo "$reason ip=$new_ip_address cidr=$new_subnet_cidr routers=$new_routers dns=$new_domain_name_servers domain=$new_domain_name lease=$new_dhcp_lease_time server=$new_dhcp_server_identifier" >> %[1]s
exit 0
`

func TestFullDhcpcd(t *testing.T) {
	l := newFullLab(t)
	requireTool(t, "dhcpcd")
	s := l.startServer(l.leaseConfig(time.Hour), nil)
	ns, ifn := l.addHost("dhcpcd")
	logf := filepath.Join(l.dir, "dhcpcd.log")
	script := l.writeScript("dhcpcd.sh", fmt.Sprintf(dhcpcdScript, logf))
	logText := func() string { b, _ := os.ReadFile(logf); return string(b) }
	conf := filepath.Join(l.dir, "dhcpcd.conf")
	// No hooks but ours, no IPv4LL, no ARP probe (a veth has no one to
	// answer; the probe only costs seconds), IPv4 only.
	os.WriteFile(conf, []byte("ipv4only\nnoipv4ll\nnoarp\nscript "+script+"\n"), 0o644)
	l.start("dhcpcd", ns, "dhcpcd", "-B", "-f", conf, "-t", "20", ifn)
	waitUntil(t, 30*time.Second, "dhcpcd's lease", func() bool {
		return strings.Contains(logText(), "BOUND ip=") && len(l.addrsOf(ns, ifn)) == 1
	})
	ip := checkBound(t, l, s, ns, ifn, l.prefix)
	if want := fmt.Sprintf("BOUND ip=%v cidr=24 routers=10.251.%d.254 dns=%v domain=rack.test lease=3600 server=%v",
		ip, l.srvIP.As4()[2], l.srvIP, l.srvIP); !strings.Contains(logText(), want) {
		t.Errorf("dhcpcd was told:\n%s\nwant %q", logText(), want)
	}

	// dhcpcd -n and -k signal the running daemon (SIGHUP, SIGALRM). A
	// signal that reaches dhcpcd 9.4.1 while it applies a lease (its hook
	// running) is lost: nothing in its debug log, and -k then waits for an
	// exit that never comes. Seen under a CPU load, 1 run in 10 to 30 of
	// go test -race -count=20 (issue 11): both right after BOUND (-n) and
	// right after the renewal's ACK (-k). Nothing tells from outside when
	// dhcpcd is back in its event loop, so each command is sent again
	// until the server sees its effect.
	control := func(arg, what string, done func() bool) {
		t.Helper()
		for try := 1; ; try++ {
			out, err := l.run(ns, 10*time.Second, "dhcpcd", "-f", conf, arg, ifn)
			if pollUntil(5*time.Second, done) {
				return
			}
			if try == 3 {
				t.Fatalf("dhcpcd %s: no %s after %d tries (last: %v)\n%s", arg, what, try, err, out)
			}
			t.Logf("dhcpcd %s, try %d: no %s yet (%v), again\n%s", arg, try, what, err, out)
		}
	}

	// dhcpcd -n: renew (rebind the interface) through the running daemon.
	acks := s.Stats().Acks
	control("-n", "renewal", func() bool { return s.Stats().Acks > acks })
	if rec, _ := leaseOf(s, macOf(t, ns, ifn)); rec.IP != ip || rec.State != lease.Bound {
		t.Errorf("after renewal: %+v", rec)
	}

	// dhcpcd -k: release.
	control("-k", "release", func() bool {
		rec, _ := leaseOf(s, macOf(t, ns, ifn))
		return rec.State == lease.Released
	})
}

// pollUntil polls cond every 100ms until it holds (true) or d passes.
func pollUntil(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestFullRelayedDhclient: dhclient on a segment behind ISC dhcrelay gets
// an address of that segment's subnet; the lease records the relay.
func TestFullRelayedDhclient(t *testing.T) {
	l := newFullLab(t)
	requireTool(t, "dhclient")
	s := l.startServer(l.leaseConfig(time.Hour), nil)
	ns, ifn := l.addRelayedHost()
	d := newDhclient(l, "far", ns, ifn)
	if out, err := d.get(); err != nil {
		t.Fatalf("dhclient behind the relay: %v\n%s", err, out)
	}
	ip := checkBound(t, l, s, ns, ifn, l.remote)
	rec, _ := leaseOf(s, macOf(t, ns, ifn))
	if rec.Relay != l.remote.Addr().Next() || rec.Subnet != l.remote {
		t.Errorf("lease %+v: want relay %v, subnet %v", rec, l.remote.Addr().Next(), l.remote)
	}
	if want := fmt.Sprintf("BOUND ip=%v mask=255.255.255.0 routers=%v", ip, l.remote.Addr().Next()); !strings.Contains(d.logText(), want) {
		t.Errorf("dhclient was told:\n%s\nwant %q", d.logText(), want)
	}
}

// TestFullPingCheckSquatter: a host that took the first pool address by
// hand answers the server's ping; the client gets the next address and the
// squatted one is quarantined.
func TestFullPingCheckSquatter(t *testing.T) {
	l := newFullLab(t)
	requireTool(t, "dhclient")
	s := l.startServer(l.leaseConfig(time.Hour), func(s *FullServer) { s.PingTimeout = 500 * time.Millisecond })
	squatNS, squatIf := l.addHost("squat")
	b := l.prefix.Addr().As4()
	first := netip.AddrFrom4([4]byte{b[0], b[1], b[2], 100})
	l.ip("-n", squatNS, "addr", "add", first.String()+"/24", "dev", squatIf)

	ns, ifn := l.addHost("pinged")
	d := newDhclient(l, "pinged", ns, ifn)
	if out, err := d.get(); err != nil {
		t.Fatalf("dhclient: %v\n%s", err, out)
	}
	if ip := checkBound(t, l, s, ns, ifn, l.prefix); ip == first {
		t.Fatalf("offered %v, which a host answers pings on", ip)
	}
	ls := s.Leases.List()
	if ls[0].IP != first || ls[0].State != lease.Declined {
		t.Errorf("leases %+v: want %v quarantined", ls, first)
	}
	if s.Stats().Conflicts != 1 {
		t.Errorf("conflicts %d", s.Stats().Conflicts)
	}
}

// TestFullRogueDnsmasq: dnsmasq on another host of the segment hands out
// addresses too; the server names it.
func TestFullRogueDnsmasq(t *testing.T) {
	l := newFullLab(t)
	requireTool(t, "dnsmasq")
	requireTool(t, "busybox")
	var seen []Rogue
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	s := l.startServer(l.leaseConfig(time.Hour), func(s *FullServer) {
		s.OnRogue = func(r Rogue) { <-mu; seen = append(seen, r); mu <- struct{}{} }
	})
	rogueNS, rogueIf := l.addHost("rogue")
	b := l.prefix.Addr().As4()
	rogueIP := netip.AddrFrom4([4]byte{b[0], b[1], b[2], 2})
	l.ip("-n", rogueNS, "addr", "add", rogueIP.String()+"/24", "dev", rogueIf)
	l.start("dnsmasq", rogueNS, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--port=0", "--no-resolv",
		"--no-hosts", "--interface="+rogueIf, "--bind-interfaces", "--user=root", "--group=root",
		"--pid-file="+filepath.Join(l.dir, "dnsmasq.pid"), "--dhcp-leasefile="+filepath.Join(l.dir, "dnsmasq.leases"),
		fmt.Sprintf("--dhcp-range=%d.%d.%d.50,%d.%d.%d.60,255.255.255.0,1h", b[0], b[1], b[2], b[0], b[1], b[2]))

	// udhcpc -B asks for broadcast replies, so every host sees both offers.
	ns, ifn := l.addHost("victim")
	script := l.writeScript("victim.sh", fmt.Sprintf(udhcpcScript, filepath.Join(l.dir, "victim.log")))
	waitUntil(t, 30*time.Second, "the rogue server to be noticed", func() bool {
		l.run(ns, 10*time.Second, "busybox", "udhcpc", "-B", "-q", "-n", "-i", ifn, "-s", script, "-t", "3", "-T", "1")
		rs := s.Rogues()
		return len(rs) == 1 && rs[0].Server == rogueIP
	})
	rs := s.Rogues()
	if rs[0].Type != "OFFER" && rs[0].Type != "ACK" || !l.prefix.Contains(rs[0].YourIP) {
		t.Errorf("rogue %+v", rs[0])
	}
	<-mu
	defer func() { mu <- struct{}{} }()
	if len(seen) == 0 || seen[0].Server != rogueIP {
		t.Errorf("OnRogue saw %+v", seen)
	}
}
