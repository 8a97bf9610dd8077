//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"rackboot/internal/netnstest"
)

// TestSweepStale leaves namespaces as a killed run does (a dead pid in the
// name, a bridge, a veth to a second namespace, a process inside) beside one
// whose owner is alive, and checks that the sweep removes exactly the former.
func TestSweepStale(t *testing.T) {
	RequireRoot(t)
	RequireCommands(t, "ip", "sleep")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	owner := exec.Command("sleep", "600")
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { owner.Process.Kill(); owner.Wait() })
	id := randomHex(3)
	srv := fmt.Sprintf("%s%d-%s-srv", nsPrefix, dead.Process.Pid, id)
	host := fmt.Sprintf("%s%d-%s-h", nsPrefix, dead.Process.Pid, id)
	live := fmt.Sprintf("%s%d-%s-srv", nsPrefix, owner.Process.Pid, id)
	for _, ns := range []string{srv, host, live} {
		mustRun(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { runCommand(context.Background(), "ip", "netns", "delete", ns) })
	}
	mustRun(t, "ip", "-n", srv, "link", "add", Bridge, "type", "bridge")
	mustRun(t, "ip", "-n", srv, "link", "add", "vh-x", "type", "veth", "peer", "name", "eth0", "netns", host)
	mustRun(t, "ip", "-n", srv, "link", "set", "vh-x", "master", Bridge)
	stray := exec.Command("ip", "netns", "exec", srv, "sleep", "600")
	stray.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := stray.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { stray.Wait(); close(exited) }()
	t.Cleanup(func() { stray.Process.Kill() })
	for len(netnstest.Pids(srv)) == 0 {
		time.Sleep(10 * time.Millisecond)
	}

	removed := sweepStale()
	t.Logf("removed: %q", removed)
	for _, ns := range []string{srv, host} {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			t.Errorf("stale namespace %s is still there", ns)
		}
	}
	if _, err := os.Stat("/run/netns/" + live); err != nil {
		t.Errorf("namespace %s of a live run was removed", live)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Errorf("process inside %s not killed", srv)
	}
}
