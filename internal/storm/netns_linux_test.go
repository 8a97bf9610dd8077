package storm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests here run the simulator's protocol steps against a real rackboot
// (the binary, `rackboot serve` in proxy mode) beside a real dnsmasq, in
// network namespaces made for the test: a bridge with rackboot, a host with
// dnsmasq, a host for the clients. The client side must live in the client
// namespace as a whole process (its sockets are made on many threads), so
// TestAgainstRackboot builds the network and reruns this test binary there,
// where TestStepsInNamespace does the work.

const (
	childEnv     = "RACKBOOT_STORM_CHILD" // "server-ip,interface,iface-size-of-undionly,size-of-snponly,http-port"
	rackbootBin  = "RACKBOOT_BIN"         // a prebuilt binary instead of `go build`
	testBuild    = "20250101T000000Z"
	testHTTPPort = 8080
)

func TestAgainstRackboot(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("the child process runs TestStepsInNamespace")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to build network namespaces")
	}
	for _, c := range []string{"ip", "dnsmasq"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("needs %s", c)
		}
	}
	undionly, err1 := os.Stat("/usr/lib/ipxe/undionly.kpxe")
	snponly, err2 := os.Stat("/usr/lib/ipxe/snponly.efi")
	if err1 != nil || err2 != nil {
		t.Skip("needs Debian's iPXE builds in /usr/lib/ipxe (apt-get install ipxe)")
	}
	bin := buildRackboot(t)
	n := newTestNet(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	plat := filepath.Join(data, "smartos", testBuild, "platform", "i86pc")
	writeFile(t, filepath.Join(plat, "kernel", "amd64", "unix"), 100_000)
	writeFile(t, filepath.Join(plat, "amd64", "boot_archive"), 300_001)
	cfg := filepath.Join(dir, "rackboot.yaml")
	if err := os.WriteFile(cfg, []byte("menu:\n  default: smartos\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	first, last := n.addr(100), n.addr(199)
	n.start(t, n.dhcp, filepath.Join(dir, "dnsmasq.log"), "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
		"--no-resolv", "--no-hosts", "--port=0", "--user=root", "--group=root", "--log-facility=-", "--log-dhcp",
		"--no-ping", "--dhcp-leasefile="+filepath.Join(dir, "leases"), "--interface=eth0", "--bind-interfaces",
		fmt.Sprintf("--dhcp-range=%s,%s,255.255.255.0,1h", first, last))
	rb := n.start(t, n.srv, filepath.Join(dir, "rackboot.log"), bin, "serve", "--config", cfg, "--interface", "br0",
		"--advertise", n.server.String(), "--data-dir", data, "--dhcp-mode", "proxy", "--ipxe-dir", "/usr/lib/ipxe",
		"--http-addr", fmt.Sprintf("%s:%d", n.server, testHTTPPort), "--tftp-addr", n.server.String()+":69")
	waitListen(t, rb, "tcp", testHTTPPort)
	waitListen(t, rb, "udp", 67)
	waitListen(t, rb, "udp", 69)

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"netns", "exec", n.cli, self, "-test.run", "^TestStepsInNamespace$", "-test.v", "-test.count=1"}
	cmd := exec.Command("ip", args...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,eth0,%d,%d,%d", childEnv, n.server, undionly.Size(), snponly.Size(), testHTTPPort))
	out, err := cmd.CombinedOutput()
	t.Logf("child (in %s):\n%s", n.cli, out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestStepsInNamespace") {
		for _, log := range []string{"rackboot.log", "dnsmasq.log"} {
			b, _ := os.ReadFile(filepath.Join(dir, log))
			t.Logf("%s:\n%s", log, tail(string(b), 40))
		}
		t.Fatalf("the steps failed in the client namespace: %v", err)
	}
}

// childConfig is what the parent tells TestStepsInNamespace.
type childConfig struct {
	server          netip.Addr
	iface           string
	undionly, snp   int64
	httpPort        int
	kernel, archive int64
}

func TestStepsInNamespace(t *testing.T) {
	v := os.Getenv(childEnv)
	if v == "" {
		t.Skip("runs inside the client namespace of TestAgainstRackboot")
	}
	f := strings.Split(v, ",")
	cc := childConfig{server: netip.MustParseAddr(f[0]), iface: f[1], kernel: 100_000, archive: 300_001}
	cc.undionly, _ = strconv.ParseInt(f[2], 10, 64)
	cc.snp, _ = strconv.ParseInt(f[3], 10, 64)
	cc.httpPort, _ = strconv.Atoi(f[4])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("steps", func(t *testing.T) { testSteps(ctx, t, cc) })
	t.Run("storm", func(t *testing.T) { testStorm(ctx, t, cc) })
}

// testSteps walks one BIOS and one UEFI machine through the chain step by
// step and checks what rackboot and dnsmasq said at each.
func testSteps(ctx context.Context, t *testing.T, cc childConfig) {
	conn, err := listenDHCP(ctx, cc.iface)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	am, err := newAddrManager(cc.iface)
	if err != nil {
		t.Fatal(err)
	}
	var xid uint32 = 0x5eed0000
	next := func() uint32 { xid++; return xid }
	fast := []time.Duration{time.Second, 2 * time.Second, 2 * time.Second}
	bios := &dhcpClient{conn: conn, id: identity{mac: net.HardwareAddr{2, 0x5c, 0, 0, 0, 1}}, start: time.Now(), xid: next}
	uefi := &dhcpClient{conn: conn, id: identity{mac: net.HardwareAddr{2, 0x5c, 0, 0, 0, 2}, arch: 7}, start: time.Now(), xid: next}

	// The PXE ROM's DHCP: the address from dnsmasq, the boot program
	// from rackboot's proxy offer.
	l, err := bios.exchange(ctx, false, fast, fast, 0)
	if err != nil {
		t.Fatalf("BIOS ROM DHCP: %v", err)
	}
	if l.proxy != cc.server || l.bootFile != "undionly.kpxe" || l.next != cc.server || !l.addr.IsValid() || l.server == cc.server {
		t.Fatalf("BIOS ROM lease %+v: want an address from dnsmasq and undionly.kpxe from the proxy at %v", l, cc.server)
	}
	if err := am.add(l.addr, l.bits); err != nil {
		t.Fatal(err)
	}
	res, err := tftpGet(ctx, l.addr, netip.AddrPortFrom(l.next, 69), l.bootFile, DefaultTFTP)
	if err != nil || res.Size != cc.undionly || res.BlockSize != 1468 || res.WindowSize != 1 {
		t.Fatalf("TFTP %s: %+v, %v; want %d bytes, blksize 1468, lockstep", l.bootFile, res, err, cc.undionly)
	}
	res, err = tftpGet(ctx, l.addr, netip.AddrPortFrom(l.next, 69), l.bootFile, TFTPOptions{BlockSize: 1468, WindowSize: 8, Timeout: time.Second, Retries: 3})
	if err != nil || res.Size != cc.undionly || res.WindowSize != 8 {
		t.Fatalf("TFTP %s with windowsize 8: %+v, %v", l.bootFile, res, err)
	}

	// iPXE's DHCP: the menu URL, with this machine's MAC and arch.
	il, err := bios.exchange(ctx, true, fast, fast, DefaultIPXEProxyWait)
	if err != nil {
		t.Fatalf("iPXE DHCP: %v", err)
	}
	wantMenu := fmt.Sprintf("http://%s:%d/boot.ipxe?mac=%s&arch=bios", cc.server, cc.httpPort, bios.id.mac)
	if il.bootFile != wantMenu || il.addr != l.addr {
		t.Fatalf("iPXE lease %+v: want %s and the same address %v", il, wantMenu, l.addr)
	}

	// The menu, run to its default item, and the images it names.
	fe := &fetcher{local: il.addr, next: il.next, timeout: time.Minute}
	defer fe.close()
	var script strings.Builder
	menuURL, _ := url.Parse(il.bootFile)
	if _, _, err := fe.get(ctx, menuURL, &script); err != nil {
		t.Fatal(err)
	}
	plan, err := planScript([]byte(script.String()), map[string]string{"mac": bios.id.mac.String()})
	if err != nil {
		t.Fatalf("menu: %v\n%s", err, script.String())
	}
	if plan.Item != "smartos-"+testBuild || len(plan.Modules) != 1 {
		t.Fatalf("plan %+v: want the newest SmartOS with one module", plan)
	}
	for _, img := range []struct {
		u    string
		size int64
	}{{plan.Kernel, cc.kernel}, {plan.Modules[0], cc.archive}} {
		u, err := resolve(menuURL, img.u)
		if err != nil {
			t.Fatal(err)
		}
		n, _, err := fe.get(ctx, u, nil)
		if err != nil || n != img.size {
			t.Errorf("GET %s: %d bytes, %v; want %d", u, n, err, img.size)
		}
	}

	// A UEFI ROM asks the proxy again on port 4011, as EDK2 does.
	ul, err := uefi.exchange(ctx, false, fast, fast, 0)
	if err != nil {
		t.Fatalf("UEFI ROM DHCP: %v", err)
	}
	if err := am.add(ul.addr, ul.bits); err != nil {
		t.Fatal(err)
	}
	ul.bootFile = ""
	if err := uefi.proxyRequest(ctx, &ul, fast); err != nil {
		t.Fatalf("ProxyDHCPREQUEST: %v", err)
	}
	if ul.bootFile != "snponly.efi" || ul.next != cc.server {
		t.Fatalf("UEFI boot file %q from %v, want snponly.efi from %v", ul.bootFile, ul.next, cc.server)
	}
	res, err = tftpGet(ctx, ul.addr, netip.AddrPortFrom(ul.next, 69), ul.bootFile, DefaultTFTP)
	if err != nil || res.Size != cc.snp {
		t.Fatalf("TFTP snponly.efi: %+v, %v", res, err)
	}

	// The addresses go when the manager closes.
	if err := am.close(); err != nil {
		t.Fatal(err)
	}
	if addrs := interfaceAddrs(t, cc.iface); len(addrs) != 1 {
		t.Errorf("addresses left on %s: %v", cc.iface, addrs)
	}
}

// testStorm runs Run: BIOS machines boot SmartOS; UEFI machines get
// rackboot's UEFI menu, whose default leaves iPXE (SmartOS needs BIOS).
func testStorm(ctx context.Context, t *testing.T, cc childConfig) {
	rep, err := Run(ctx, Config{
		Interface: cc.iface, Machines: 6, UEFI: 0.5, Seed: 7, Spread: 200 * time.Millisecond,
		MACPrefix: [3]byte{0x02, 0x5d, 0x00}, Scale: 0.25,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Booted != 6 || rep.Failed != 0 || rep.Exited != rep.UEFI || rep.UEFI == 0 || rep.BIOS == 0 {
		var b strings.Builder
		rep.WriteText(&b)
		t.Fatalf("want 6 booted, the UEFI ones exited:\n%s", b.String())
	}
	want := map[string]int{"dhcp": 6, "tftp": 6, "ipxe-dhcp": 6, "menu": 6, "kernel": rep.BIOS, "modules": rep.BIOS}
	for _, s := range rep.Stages {
		if s.Done != want[s.Name] {
			t.Errorf("stage %s: %d done, want %d", s.Name, s.Done, want[s.Name])
		}
	}
	if rep.Stages[StageModules].Bytes != int64(rep.BIOS)*cc.archive {
		t.Errorf("modules: %d bytes, want %d", rep.Stages[StageModules].Bytes, int64(rep.BIOS)*cc.archive)
	}
	if addrs := interfaceAddrs(t, cc.iface); len(addrs) != 1 {
		t.Errorf("addresses left on %s: %v", cc.iface, addrs)
	}
}

func interfaceAddrs(t *testing.T, name string) []net.Addr {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	var v4 []net.Addr
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			v4 = append(v4, a)
		}
	}
	return v4
}

// testNet is the test's network: namespaces srv (bridge br0, the server's
// address), dhcp and cli (each an eth0 on the bridge).
type testNet struct {
	srv, dhcp, cli string
	prefix         netip.Prefix
	server         netip.Addr
}

func newTestNet(t *testing.T) *testNet {
	t.Helper()
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	id := hex.EncodeToString(rnd[:])
	sweepStaleNetns(t)
	n := &testNet{srv: netnsName("rbstorm-", id, "s"), dhcp: netnsName("rbstorm-", id, "d"), cli: netnsName("rbstorm-", id, "c"),
		prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 211, rnd[0], 0}), 24)}
	n.server = n.addr(1)
	t.Cleanup(func() {
		for _, ns := range []string{n.cli, n.dhcp, n.srv} {
			out, _ := exec.Command("ip", "netns", "pids", ns).Output()
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	bits := strconv.Itoa(n.prefix.Bits())
	cmds := [][]string{}
	for _, ns := range []string{n.srv, n.dhcp, n.cli} {
		cmds = append(cmds, []string{"netns", "add", ns}, []string{"-n", ns, "link", "set", "lo", "up"})
	}
	cmds = append(cmds,
		[]string{"-n", n.srv, "link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"},
		[]string{"-n", n.srv, "addr", "add", n.server.String() + "/" + bits, "dev", "br0"},
		[]string{"-n", n.srv, "link", "set", "br0", "up"})
	for i, h := range []string{n.dhcp, n.cli} {
		peer := fmt.Sprintf("vh%d", i)
		cmds = append(cmds,
			[]string{"-n", n.srv, "link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", h},
			[]string{"-n", n.srv, "link", "set", peer, "master", "br0", "up"},
			[]string{"-n", h, "addr", "add", n.addr(byte(2+i)).String() + "/" + bits, "dev", "eth0"},
			[]string{"-n", h, "link", "set", "eth0", "up"})
	}
	for _, c := range cmds {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	return n
}

func (n *testNet) addr(last byte) netip.Addr {
	a := n.prefix.Addr().As4()
	a[3] = last
	return netip.AddrFrom4(a)
}

// start runs argv in ns until the test ends.
func (n *testNet) start(t *testing.T, ns, logPath string, argv ...string) *exec.Cmd {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		f.Close()
	})
	return cmd
}

// waitListen waits until cmd's process has a socket on port (UDP bound, TCP
// listening); /proc/<pid>/net shows its namespace's tables.
func waitListen(t *testing.T, cmd *exec.Cmd, proto string, port int) {
	t.Helper()
	want := fmt.Sprintf(":%04X", port)
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", cmd.Process.Pid, proto))
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 3 && strings.HasSuffix(f[1], want) && (proto == "udp" || f[3] == "0A") {
				return
			}
		}
		if cmd.ProcessState != nil {
			break
		}
	}
	t.Fatalf("%s not listening on %s port %d", cmd.Path, proto, port)
}

func buildRackboot(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv(rackbootBin); bin != "" {
		return bin
	}
	bin := filepath.Join(t.TempDir(), "rackboot")
	cmd := exec.Command("go", "build", "-o", bin, "rackboot/cmd/rackboot")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build rackboot/cmd/rackboot: %v\n%s", err, out)
	}
	return bin
}

func writeFile(t *testing.T, path string, size int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, randomBytes(t, size), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
