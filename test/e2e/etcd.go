//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rackboot/internal/store/etcdstore/etcdtest"
)

// EtcdMember is one etcd process on its own lab host.
type EtcdMember struct {
	*Process
	Name      string
	Host      *Host
	ClientURL string // http://<ip>:2379

	lab  *Lab
	args []string // its command line, to start it again
}

// EtcdCluster is an etcd cluster inside a lab: each member a process in
// its own host namespace on br0, so that the servers reach it over the lab
// network, as in a rack (etcdtest runs its members on loopback instead).
type EtcdCluster struct {
	Members []*EtcdMember
	t       testing.TB
}

// Endpoints are the members' client URLs.
func (c *EtcdCluster) Endpoints() []string {
	out := make([]string, len(c.Members))
	for i, m := range c.Members {
		out[i] = m.ClientURL
	}
	return out
}

// EtcdBinary finds the etcd server: $RACKBOOT_ETCD, as for the unit tests
// (etcdtest), else Debian's (package etcd-server); or skips (fails with
// RACKBOOT_E2E_REQUIRED=1).
func EtcdBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("RACKBOOT_ETCD"); p != "" {
		return p
	}
	for _, p := range []string{"etcd", "/usr/bin/etcd"} {
		if bin, err := exec.LookPath(p); err == nil {
			return bin
		}
	}
	unavailable(t, "etcd not installed (Debian package etcd-server)")
	return ""
}

// StartEtcd runs an n-member etcd cluster on lab hosts "etcd0".. with the
// addresses firstAddr, firstAddr+1, ..., and waits until every member
// reports itself healthy (a leader elected).
func StartEtcd(ctx context.Context, t testing.TB, lab *Lab, n int, firstAddr byte) *EtcdCluster {
	t.Helper()
	bin := EtcdBinary(t)
	c := &EtcdCluster{t: t}
	var initial []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("etcd%d", i)
		h := lab.AddHost(t, name, lab.Addr(firstAddr+byte(i)))
		c.Members = append(c.Members, &EtcdMember{Name: name, Host: h, ClientURL: fmt.Sprintf("http://%s:2379", h.IP)})
		initial = append(initial, fmt.Sprintf("%s=http://%s:2380", name, h.IP))
	}
	for _, m := range c.Members {
		dir := filepath.Join(lab.Out, m.Name+".data")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		peer := fmt.Sprintf("http://%s:2380", m.Host.IP)
		m.lab = lab
		// env -i: etcd runs in etcdtest.Env, without the ETCD_* settings
		// of the test's environment.
		m.args = append(append([]string{"env", "-i"}, etcdtest.Env()...), bin,
			"--name", m.Name, "--data-dir", dir,
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "rackboot-e2e-"+lab.ID,
			"--logger", "zap", "--log-outputs", "stderr")
		m.Process = lab.Start(t, m.Host.NS, m.Name, m.args...)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*peerStartTimeout)
	defer cancel()
	for _, m := range c.Members {
		// /health answers 200 once the member has a leader.
		if err := WaitHTTP(wctx, m.Host.NS, m.ClientURL+"/health", 200); err != nil {
			t.Fatalf("etcd member %s: %v", m.Name, err)
		}
	}
	t.Logf("etcd: %d members at %s", n, strings.Join(c.Endpoints(), ", "))
	return c
}

// Kill stops member i with SIGKILL (a crash) and waits until it is gone.
func (c *EtcdCluster) Kill(i int) {
	m := c.Members[i]
	m.Process.Kill()
	c.t.Logf("etcd: %s killed with SIGKILL", m.Name)
}

// Restart starts member i again with its data directory and the same
// arguments (--initial-cluster-state new is ignored once the data directory
// holds a member); its log goes on in the same file. It does not wait:
// with quorum lost, one member alone never becomes healthy (WaitHealthy).
func (c *EtcdCluster) Restart(i int) {
	c.t.Helper()
	m := c.Members[i]
	if exited, _ := m.Process.Exited(); !exited {
		c.t.Fatalf("etcd: restart %s: it is still running", m.Name)
	}
	m.Process = m.lab.Start(c.t, m.Host.NS, m.Name, m.args...)
	c.t.Logf("etcd: %s started again", m.Name)
}

// WaitHealthy waits until every running member answers /health with 200.
func (c *EtcdCluster) WaitHealthy(ctx context.Context, d time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for _, m := range c.Members {
		if exited, _ := m.Process.Exited(); exited {
			continue
		}
		if err := WaitHTTP(wctx, m.Host.NS, m.ClientURL+"/health", 200); err != nil {
			return fmt.Errorf("etcd member %s: %w", m.Name, err)
		}
	}
	return nil
}
