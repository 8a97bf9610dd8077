//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Stack rackboot-etcd: rackboot with store.backend etcd, on a one-member
// etcd (Debian's etcd-server) in the server's namespace, on its loopback.
// One member, not three: the figure is what the etcd round trip and
// etcd's own fsync cost each group commit, not Raft's replication between
// hosts (which in one namespace would only add loopback hops).
// Lease writes are compare-and-swaps, one etcd transaction per batch of at
// most 128 leases (internal/lease/shared.go).

const etcdClientURL = "http://127.0.0.1:23790"

// etcdClusterURL is where server B of rackboot-etcd-2 reaches etcd, in
// server A's namespace, over the lab's bridge (cluster.go).
const etcdClusterURL = "http://" + serverIP + ":23790"

// startEtcd starts the one-member etcd in l's server namespace and waits
// until it is healthy; the returned func stops it (by its pid).
func startEtcd(ctx context.Context, l *lab) (stop func(), version string, err error) {
	dir := filepath.Join(l.dir, "etcd")
	logf, err := os.Create(filepath.Join(l.dir, "etcd.log"))
	if err != nil {
		return nil, "", err
	}
	listen := etcdClientURL
	if l.srv2NS != "" {
		listen += "," + etcdClusterURL
	}
	cmd := exec.Command("ip", "netns", "exec", l.srvNS, "etcd", "--name", "bench", "--data-dir", dir,
		"--listen-client-urls", listen, "--advertise-client-urls", etcdClientURL,
		"--listen-peer-urls", "http://127.0.0.1:23800", "--initial-advertise-peer-urls", "http://127.0.0.1:23800",
		"--initial-cluster", "bench=http://127.0.0.1:23800", "--logger", "zap", "--log-outputs", "stderr")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, "", fmt.Errorf("start etcd: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	stop = func() {
		cmd.Process.Kill()
		<-done
	}
	// etcd's /health, asked from inside the namespace with bash's
	// /dev/tcp (no curl assumed).
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := exec.Command("ip", "netns", "exec", l.srvNS, "bash", "-c",
			"exec 3<>/dev/tcp/127.0.0.1/23790 2>/dev/null && printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3").CombinedOutput()
		if strings.Contains(string(out), `"health":"true"`) {
			break
		}
		select {
		case <-done:
			return nil, "", fmt.Errorf("etcd exited; see %s", filepath.Join(l.dir, "etcd.log"))
		case <-ctx.Done():
			stop()
			return nil, "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, "", fmt.Errorf("etcd not healthy after 30 s; see %s", filepath.Join(l.dir, "etcd.log"))
		}
	}
	return stop, firstLine(exec.Command("etcd", "--version")), nil
}

// etcdStoreYAML is the store section of rackboot's configuration for the
// etcd stacks.
func etcdStoreYAML(name, endpoint string) string {
	return fmt.Sprintf(`server:
  name: %s
store:
  backend: etcd
  etcd:
    endpoints: [%s]
    prefix: /bench/
`, name, endpoint)
}
