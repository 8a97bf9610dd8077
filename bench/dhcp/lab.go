//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"time"
)

// The benchmark network: 10.128.0.0/9, the server at .0.1 and perfdhcp (as
// a relay agent) at .0.2, so that leases come from 10.129.0.0 up: eight
// million addresses, more than any run hands out; or, oversubscribed, the
// first overPool of them (-over-pool).
const (
	subnet    = "10.128.0.0/9"
	serverIP  = "10.128.0.1"
	clientIP  = "10.128.0.2"
	poolFirst = "10.129.0.0"
	poolLast  = "10.255.255.254"
	netmask   = "255.128.0.0"
)

// lab is two namespaces joined by a veth, a work directory, and the last
// address of the pool its server leases from poolFirst.
type lab struct {
	srvNS, cliNS string
	srvIf, cliIf string
	dir          string
	poolLast     string
	// The two-server lab (cluster.go): a second server namespace, the
	// namespace holding the bridge, and where perfdhcp sends (broadcast).
	srv2NS, srv2If, hubNS string
	target                string
}

// dest is where perfdhcp sends: the server, or the broadcast address in
// the two-server lab.
func (l *lab) dest() string {
	if l.target != "" {
		return l.target
	}
	return serverIP
}

// lastOfPool is the last address of a pool of n addresses from poolFirst.
func lastOfPool(n int) string {
	a := netip.MustParseAddr(poolFirst).As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]) + uint32(n) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

func newLab(name, last string) (*lab, error) {
	var b [3]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	l := &lab{srvNS: "rbdb-" + id + "-s", cliNS: "rbdb-" + id + "-c", srvIf: "rbds" + id, cliIf: "rbdc" + id, poolLast: last}
	dir, err := os.MkdirTemp("", "rackboot-bench-dhcp-"+name+"-")
	if err != nil {
		return nil, err
	}
	l.dir = dir
	cmds := [][]string{
		{"netns", "add", l.srvNS},
		{"netns", "add", l.cliNS},
		{"link", "add", l.srvIf, "netns", l.srvNS, "type", "veth", "peer", "name", l.cliIf, "netns", l.cliNS},
		{"-n", l.srvNS, "addr", "add", serverIP + "/9", "dev", l.srvIf},
		{"-n", l.cliNS, "addr", "add", clientIP + "/9", "dev", l.cliIf},
		{"-n", l.srvNS, "link", "set", l.srvIf, "up"},
		{"-n", l.cliNS, "link", "set", l.cliIf, "up"},
		{"-n", l.srvNS, "link", "set", "lo", "up"},
		{"-n", l.cliNS, "link", "set", "lo", "up"},
	}
	for _, c := range cmds {
		if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
			l.close(false)
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	return l, nil
}

func (l *lab) close(keep bool) {
	for _, ns := range []string{l.srvNS, l.srv2NS, l.cliNS, l.hubNS} {
		if ns != "" {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	}
	if !keep {
		os.RemoveAll(l.dir)
	}
}

// waitReady waits until the server answers a short perfdhcp run.
func (l *lab) waitReady(ctx context.Context) error {
	var last error
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		s, err := l.perfdhcp(ctx, 20, 1, allClients)
		if err == nil && s.Acks > 0 {
			return nil
		}
		last = err
		if err == nil {
			last = fmt.Errorf("no ACK in a 1 s probe: %+v", s)
		}
	}
	return last
}
