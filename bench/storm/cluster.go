//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Stack rackboot-full-etcd-2: two rackboot servers in full DHCP mode on
// one etcd, serving the same subnet and pool (issue 13). Server A is in the
// srv namespace on br0 (10.210.0.1), as in rackboot-full, with a
// one-member etcd (Debian's etcd-server) beside it on its loopback and on
// 10.210.0.1:23790; server B is in a namespace of its own ("srv2",
// 10.210.0.4) joined to br0 by a veth. Every DISCOVER the simulated
// machines broadcast reaches both; a machine takes the first OFFER and
// REQUESTs it with that server's identifier, then fetches its files from
// that server (its own advertise address). Server CPU in the report is
// the srv namespace's, A and etcd, not B.

var server2IP = netip.MustParseAddr("10.210.0.4")

const stormEtcdPort = "23790"

// etcd2Names are the two servers' names (server.name), which place each
// one's walk of the pool (lease.Config.Spread: a hash of the name).
var etcd2Names = flag.String("etcd2-names", "storm-a,storm-b", "stack rackboot-full-etcd-2: the two servers' names (their walks of the pool start at a hash of the name)")

func init() {
	stacks = append(stacks, stack{"rackboot-full-etcd-2", "two rackboot servers, full DHCP, on one etcd", startRackbootFullEtcd2})
	stackTitles["rackboot-full-etcd-2"] = "rackboot full, 2 servers on etcd"
}

func startRackbootFullEtcd2(ctx context.Context, l *lab, e *env) (*proc, error) {
	srv2 := nsName("srv2")
	l.extra = append(l.extra, srv2)
	bits := fmt.Sprint(labPrefix.Bits())
	for _, c := range [][]string{
		{"ip", "netns", "add", srv2},
		{"ip", "-n", srv2, "link", "set", "lo", "up"},
		{"ip", "-n", l.srv, "link", "add", "vh-srv2", "type", "veth", "peer", "name", clientIface, "netns", srv2},
		{"ip", "-n", l.srv, "link", "set", "vh-srv2", "master", "br0", "up"},
		{"ip", "-n", srv2, "addr", "add", server2IP.String() + "/" + bits, "dev", clientIface},
		{"ip", "-n", srv2, "link", "set", clientIface, "up"},
	} {
		if err := run(ctx, c...); err != nil {
			return nil, err
		}
	}
	local := "http://127.0.0.1:" + stormEtcdPort
	onBridge := "http://" + serverIP.String() + ":" + stormEtcdPort
	etcd, err := l.start("etcd", l.srv, "etcd", "--name", "storm", "--data-dir", filepath.Join(l.dir, "etcd"),
		"--listen-client-urls", local+","+onBridge, "--advertise-client-urls", onBridge,
		"--listen-peer-urls", "http://127.0.0.1:23800", "--initial-advertise-peer-urls", "http://127.0.0.1:23800",
		"--initial-cluster", "storm=http://127.0.0.1:23800")
	if err != nil {
		return nil, err
	}
	if err := waitEtcd(ctx, l.srv, etcd); err != nil {
		return nil, err
	}
	full := func(name, endpoint string) string {
		return fmt.Sprintf(`server:
  name: %s
store:
  backend: etcd
  etcd:
    endpoints: [%s]
    prefix: /storm/
dhcp:
  mode: full
  ping_check: 0s
  subnets:
    - subnet: %s
      pools: ["%s-%s"]
`, name, endpoint, labPrefix, leaseFirst, leaseLast)
	}
	nameA, nameB, _ := strings.Cut(*etcd2Names, ",")
	a, err := startRackbootAt(ctx, l, e, "rackboot", l.srv, "br0", serverIP, "full", full(nameA, local))
	if err != nil {
		return nil, err
	}
	if _, err := startRackbootAt(ctx, l, e, "rackboot-b", srv2, clientIface, server2IP, "full", full(nameB, onBridge)); err != nil {
		return nil, err
	}
	return a, nil
}

// waitEtcd waits until etcd answers /health in ns.
func waitEtcd(ctx context.Context, ns string, p *proc) error {
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
		out, _ := exec.Command("ip", "netns", "exec", ns, "bash", "-c",
			"exec 3<>/dev/tcp/127.0.0.1/"+stormEtcdPort+" 2>/dev/null && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3").CombinedOutput()
		if strings.Contains(string(out), `"health":"true"`) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("etcd exited; see %s", p.log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("etcd not healthy after 30 s; see %s", p.log)
}

// startRackbootAt runs rackboot serve in DHCP mode mode, as process name in
// namespace ns on interface iface at address ip, with its own data directory
// (name-data) that holds the platform (hard links: the same files nginx serves).
func startRackbootAt(ctx context.Context, l *lab, e *env, name, ns, iface string, ip netip.Addr, mode, extraYAML string) (*proc, error) {
	data := filepath.Join(l.dir, name+"-data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	if err := run(ctx, "cp", "-al", filepath.Join(e.web, "smartos"), data+"/"); err != nil {
		return nil, err
	}
	cfg := filepath.Join(l.dir, name+".yaml")
	if err := os.WriteFile(cfg, []byte("menu:\n  default: smartos\n"+extraYAML), 0o644); err != nil {
		return nil, err
	}
	argv := []string{e.rackboot, "serve", "--config", cfg, "--interface", iface,
		"--advertise", ip.String(), "--data-dir", data, "--dhcp-mode", mode,
		"--http-addr", ip.String() + ":80", "--tftp-addr", ip.String() + ":69"}
	if e.rackbootLog != "" {
		argv = append(argv, "--log-level", e.rackbootLog)
	}
	if len(e.rackbootEnv) > 0 {
		argv = append(append([]string{"env"}, e.rackbootEnv...), argv...)
	}
	p, err := l.start(name, ns, argv...)
	if err != nil {
		return nil, err
	}
	if err := p.waitListen(ctx, "tcp", 80); err != nil {
		return nil, err
	}
	if err := p.waitListen(ctx, "udp", 67); err != nil {
		return nil, err
	}
	return p, nil
}
