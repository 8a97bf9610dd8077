//go:build linux

package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// Stack rackboot-etcd-2: two rackboot servers in dhcp.mode full on one
// etcd (etcd.go), serving the same subnet and pool, measured together.
//
// The lab has four namespaces on one bridge: the bridge's own (hub), server
// A (10.128.0.1, with the one-member etcd, which listens on its loopback
// and on 10.128.0.1 for B), server B (10.128.0.3) and perfdhcp
// (10.128.0.2). perfdhcp still acts as a relay agent (giaddr 10.128.0.2)
// but sends every DISCOVER and REQUEST to the broadcast address, so both
// servers receive each one, as behind a relay configured with both
// servers (`ip helper-address` twice): both OFFER, perfdhcp takes the first
// OFFER and REQUESTs it with that server's identifier (option 54), the
// other server sees a client SELECTING another server and stays silent.
// This is the active-active case: the two servers race for every client,
// and each lease write is a compare-and-swap on one etcd. Each server's
// /metrics (127.0.0.1:9180 in its namespace) gives the conflicts, the
// REQUESTs answered and ignored, and the other's writes it learned by
// watch.

const (
	server2IP   = "10.128.0.3"
	metricsAddr = "127.0.0.1:9180"
)

// newLab2 is the two-server lab.
func newLab2(name, last string) (*lab, error) {
	l, err := newLab(name, last)
	if err != nil {
		return nil, err
	}
	// newLab joined srv and cli by one veth; take it apart and put the
	// three on a bridge.
	id := strings.TrimSuffix(strings.TrimPrefix(l.srvNS, "rbdb-"), "-s")
	l.hubNS, l.srv2NS, l.srv2If, l.target = "rbdb-"+id+"-h", "rbdb-"+id+"-b", "rbdb"+id, "all"
	cmds := [][]string{
		{"-n", l.srvNS, "link", "del", l.srvIf},
		{"netns", "add", l.hubNS},
		{"netns", "add", l.srv2NS},
		{"-n", l.hubNS, "link", "add", "br0", "type", "bridge"},
		{"-n", l.hubNS, "link", "set", "br0", "up"},
	}
	for i, p := range []struct{ ns, ifname, addr string }{{l.srvNS, l.srvIf, serverIP}, {l.cliNS, l.cliIf, clientIP}, {l.srv2NS, l.srv2If, server2IP}} {
		port := fmt.Sprintf("p%d", i)
		cmds = append(cmds,
			[]string{"link", "add", p.ifname, "netns", p.ns, "type", "veth", "peer", "name", port, "netns", l.hubNS},
			[]string{"-n", l.hubNS, "link", "set", port, "master", "br0"},
			[]string{"-n", l.hubNS, "link", "set", port, "up"},
			[]string{"-n", p.ns, "addr", "add", p.addr + "/9", "dev", p.ifname},
			[]string{"-n", p.ns, "link", "set", p.ifname, "up"},
			[]string{"-n", p.ns, "link", "set", "lo", "up"})
	}
	for _, c := range cmds {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			l.close(false)
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	return l, nil
}

// scrapeMetrics is the /metrics text of the rackboot in namespace ns.
func scrapeMetrics(ns string) string {
	out, _ := exec.Command("ip", "netns", "exec", ns, "bash", "-c",
		"exec 3<>/dev/tcp/127.0.0.1/9180 2>/dev/null && printf 'GET /metrics HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n' >&3 && cat <&3").CombinedOutput()
	return string(out)
}

var clusterMetricRE = regexp.MustCompile(`(?m)^(rackboot_lease_conflicts_total|rackboot_lease_writes_total|rackboot_lease_remote_writes_total|rackboot_lease_commits_total|rackboot_dhcp_packets_total\{outcome="[a-z-]+",type="(?:REQUEST|DISCOVER)"\}) ([0-9.e+]+)`)

// clusterFigures sums up both servers' /metrics: conflicts, writes, and
// what they did with DISCOVERs and REQUESTs.
func clusterFigures(l *lab) string {
	var parts []string
	for _, s := range []struct{ name, ns string }{{"A", l.srvNS}, {"B", l.srv2NS}} {
		var f []string
		for _, m := range clusterMetricRE.FindAllStringSubmatch(scrapeMetrics(s.ns), -1) {
			k := strings.TrimPrefix(strings.TrimPrefix(m[1], "rackboot_lease_"), "rackboot_dhcp_packets_total")
			k = strings.NewReplacer(`{outcome="`, "", `",type="`, " ", `"}`, "", "_total", "").Replace(k)
			f = append(f, k+" "+m[2])
		}
		if len(f) == 0 {
			f = []string{"no /metrics"}
		}
		parts = append(parts, s.name+": "+strings.Join(f, ", "))
	}
	return strings.Join(parts, "; ")
}

// clusterWrites is the lease writes both servers committed so far.
func clusterWrites(l *lab) float64 {
	var n float64
	for _, ns := range []string{l.srvNS, l.srv2NS} {
		for _, m := range clusterMetricRE.FindAllStringSubmatch(scrapeMetrics(ns), -1) {
			if m[1] == "rackboot_lease_writes_total" {
				v, _ := strconv.ParseFloat(m[2], 64)
				n += v
			}
		}
	}
	return n
}
