//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The lab network: one /16, the boot servers on .0.1 (bridge br0 in the
// "srv" namespace), the network's DHCP server on .0.2 ("dhcp"), the storm
// client's own address on .0.3 ("cli"), leases from .1.0 to .9.255.
var (
	labPrefix   = netip.MustParsePrefix("10.210.0.0/16")
	serverIP    = netip.MustParseAddr("10.210.0.1")
	dhcpIP      = netip.MustParseAddr("10.210.0.2")
	clientIP    = netip.MustParseAddr("10.210.0.3")
	leaseFirst  = netip.MustParseAddr("10.210.1.0")
	leaseLast   = netip.MustParseAddr("10.210.9.255")
	nsPrefix    = "rbbench-"
	clientIface = "eth0"
	clientPeer  = "vh-cli" // the bridge's end of the client's link
)

// lab is one set of namespaces, made fresh for every measurement so that no
// state (leases, ARP, page cache aside) carries over from one to the next.
type lab struct {
	srv, dhcp, cli string // namespace names
	lnk            string // the link emulator's, when the client link is slowed
	dir            string // logs and per-run files
	procs          []*proc
	linkem         *proc    // the link emulator, when the client link is slowed
	extra          []string // namespaces a stack added (cluster.go)
}

func nsName(role string) string { return fmt.Sprintf("%s%d-%s", nsPrefix, os.Getpid(), role) }

// newLab builds the namespaces. netem, when not empty, is a tc-netem-like
// specification ("delay 1ms loss 5%") applied to both directions of the
// client's link by the link emulator (linkem.go), frame by frame.
func newLab(ctx context.Context, dir, netem string) (*lab, error) {
	l := &lab{srv: nsName("srv"), dhcp: nsName("dhcp"), cli: nsName("cli"), dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	bits := strconv.Itoa(labPrefix.Bits())
	cmds := [][]string{}
	for _, ns := range []string{l.srv, l.dhcp, l.cli} {
		cmds = append(cmds, []string{"ip", "netns", "add", ns}, []string{"ip", "-n", ns, "link", "set", "lo", "up"})
	}
	cmds = append(cmds,
		[]string{"ip", "-n", l.srv, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"},
		[]string{"ip", "-n", l.srv, "addr", "add", serverIP.String() + "/" + bits, "dev", "br0"},
		[]string{"ip", "-n", l.srv, "link", "set", "br0", "up"})
	// The client's link: straight to the bridge, or through the link
	// emulator's namespace ("lnk": interfaces c and s) when it is slowed.
	cliPeerNS, cliPeer := l.srv, clientPeer
	if netem != "" {
		l.lnk = nsName("lnk")
		cliPeerNS, cliPeer = l.lnk, "c"
		cmds = append(cmds,
			[]string{"ip", "netns", "add", l.lnk},
			[]string{"ip", "netns", "exec", l.lnk, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6"},
			[]string{"ip", "-n", l.srv, "link", "add", clientPeer, "type", "veth", "peer", "name", "s", "netns", l.lnk},
			[]string{"ip", "-n", l.srv, "link", "set", clientPeer, "master", "br0", "up"},
			[]string{"ip", "-n", l.lnk, "link", "set", "s", "up"})
	}
	for _, h := range []struct {
		ns, peerNS, peer string
		ip               netip.Addr
	}{{l.dhcp, l.srv, "vh-dhcp", dhcpIP}, {l.cli, cliPeerNS, cliPeer, clientIP}} {
		cmds = append(cmds,
			[]string{"ip", "-n", h.peerNS, "link", "add", h.peer, "type", "veth", "peer", "name", clientIface, "netns", h.ns},
			[]string{"ip", "-n", h.ns, "addr", "add", h.ip.String() + "/" + bits, "dev", clientIface},
			[]string{"ip", "-n", h.ns, "link", "set", clientIface, "up"})
		if h.peerNS == l.srv {
			cmds = append(cmds, []string{"ip", "-n", l.srv, "link", "set", h.peer, "master", "br0", "up"})
		} else {
			cmds = append(cmds, []string{"ip", "-n", h.peerNS, "link", "set", h.peer, "up"})
		}
	}
	if netem != "" {
		// Frames cross the emulator as they are: no offloads, so each is at
		// most one MTU with its checksums computed.
		for _, end := range [][2]string{{l.cli, clientIface}, {l.lnk, "c"}, {l.lnk, "s"}, {l.srv, clientPeer}} {
			cmds = append(cmds, []string{"ip", "netns", "exec", end[0], "ethtool", "-K", end[1],
				"tx", "off", "tso", "off", "gso", "off", "gro", "off"})
		}
	}
	for _, c := range cmds {
		if err := run(ctx, c...); err != nil {
			l.close()
			return nil, err
		}
	}
	if netem != "" {
		if err := l.startLinkem(ctx, netem); err != nil {
			l.close()
			return nil, err
		}
	}
	return l, nil
}

// startLinkem runs this program's link emulator between c and s.
func (l *lab) startLinkem(ctx context.Context, spec string) error {
	delay, loss, err := linkSpec(spec)
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	p, err := l.start("linkem", l.lnk, self, "linkem", "-a", "c", "-b", "s",
		"-delay", delay.String(), "-loss", strconv.FormatFloat(loss, 'g', -1, 64))
	if err != nil {
		return err
	}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(p.log); strings.Contains(string(b), "linkem: c <-> s") {
			l.linkem = p
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("link emulator exited; see %s", p.log)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
	}
	return fmt.Errorf("link emulator did not start; see %s", p.log)
}

// close stops every process and deletes the namespaces.
func (l *lab) close() {
	for i := len(l.procs) - 1; i >= 0; i-- {
		l.procs[i].stop()
	}
	for _, ns := range append(l.extra, l.cli, l.lnk, l.dhcp, l.srv) {
		if ns != "" {
			killNetns(ns)
		}
	}
}

func killNetns(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	_ = exec.Command("ip", "netns", "delete", ns).Run()
}

// sweepStale deletes namespaces left by harness runs that died (their name
// carries a pid that no longer exists).
func sweepStale() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		killNetns(e.Name())
	}
}

// proc is a background program in a namespace, its output in a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	once sync.Once
}

// start runs argv in ns in the background.
func (l *lab) start(name, ns string, argv ...string) (*proc, error) {
	logPath := filepath.Join(l.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "# %s\n", strings.Join(argv, " "))
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	l.procs = append(l.procs, p)
	return p, nil
}

// pid is the program's own pid: `ip netns exec` execs it.
func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) stop() {
	p.once.Do(func() {
		_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
			<-p.done
		}
	})
}

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func (p *proc) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// waitListen waits until the process (or a child, for forking servers) has a
// socket on port: UDP bound, or TCP listening. /proc/<pid>/net shows the
// process's own namespace.
func (p *proc) waitListen(ctx context.Context, proto string, port int) error {
	want := fmt.Sprintf(":%04X", port)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", p.pid(), proto))
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 3 && strings.HasSuffix(f[1], want) && (proto == "udp" || f[3] == "0A") {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before listening on %s port %d; see %s", p.name, proto, port, p.log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: not listening on %s port %d after 20s; see %s", p.name, proto, port, p.log)
}

// run runs a short command, failing with its output.
func run(ctx context.Context, argv ...string) error {
	_, err := output(ctx, argv...)
	return err
}

func output(ctx context.Context, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
		}
		return string(out), fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return string(out), nil
}

// nsCPU is the CPU time, in seconds, used so far by the processes in ns and
// the children they have reaped (utime, stime, cutime, cstime of proc(5)).
func nsCPU(ns string) float64 {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	var ticks int64
	for _, f := range strings.Fields(string(out)) {
		b, err := os.ReadFile("/proc/" + f + "/stat")
		if err != nil {
			continue
		}
		// The command name (field 2) may hold spaces: count from its end.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		for _, i := range []int{11, 12, 13, 14} { // fields 14..17, after pid and comm
			if i < len(fields) {
				v, _ := strconv.ParseInt(fields[i], 10, 64)
				ticks += v
			}
		}
	}
	return float64(ticks) / 100 // USER_HZ
}

// udpRcvbufErrors is the namespace's count of UDP datagrams dropped for a
// full socket receive buffer (/proc/net/snmp, Udp: RcvbufErrors): DHCP
// requests a server never saw.
func udpRcvbufErrors(ctx context.Context, ns string) int64 {
	out, err := output(ctx, "ip", "netns", "exec", ns, "cat", "/proc/net/snmp")
	if err != nil {
		return -1
	}
	var head []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		for i, h := range head {
			if h == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseInt(f[i], 10, 64)
				return v
			}
		}
	}
	return -1
}

// udpPortDrops reads the UDP sockets of the namespace pid lives in
// (/proc/<pid>/net/udp) and returns the drops of each by local port.
func udpPortDrops(pid int) map[string]int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/udp", pid))
	if err != nil {
		return nil
	}
	m := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 13 {
			continue
		}
		_, portHex, _ := strings.Cut(f[1], ":")
		port, _ := strconv.ParseInt(portHex, 16, 32)
		drops, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
		if drops > 0 {
			m[strconv.FormatInt(port, 10)] += drops
		}
	}
	return m
}
