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
)

func TestStaleNetns(t *testing.T) {
	made := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	before, after := made.Add(-time.Minute), made.Add(time.Hour)
	procs := map[int]time.Time{
		100: before,      // a live harness run: started, then made its namespaces
		200: after,       // a process that got a dead run's pid later
		300: {},          // alive, start time unknown
		400: made.Add(1), // started within /proc's precision of the namespace
	}
	started := func(pid int) (time.Time, bool) { at, ok := procs[pid]; return at, ok }
	for _, tc := range []struct {
		name  string
		stale bool
	}{
		{"rbe2e-999-a1b2c3-srv", true},   // pid 999 is gone
		{"rbe2e-100-a1b2c3-srv", false},  // its run is alive
		{"rbe2e-200-a1b2c3-srv", true},   // pid reused by a newer process
		{"rbe2e-300-a1b2c3-dhcp", false}, // alive, unknown start: keep
		{"rbe2e-400-a1b2c3-srv", false},  // too close to call: keep
		{"rbe2e-42-a1b2c3-srv", false},   // our own pid
		{"rbe2e-999", false},             // no "-" after the pid
		{"rbe2e--a1b2c3-srv", false},     // no pid
		{"rbe2e-+999-x", false},          // not only digits
		{"rbe2e-a1b2c3-srv", false},      // a random id, not a pid
		{"rbe2e-0-x", false},             // pid 0 is no process
		{"rbe2e-99999999999999999999-x", false},
		{"rbbench-999-srv", false}, // another harness's prefix
		{"rbtest-999-a1b2c3-s", false},
		{"my-netns", false},
	} {
		_, stale := staleNetns(tc.name, "rbe2e-", 42, made, started)
		if stale != tc.stale {
			t.Errorf("staleNetns(%q) = %v, want %v", tc.name, stale, tc.stale)
		}
	}
}

func TestProcessStarted(t *testing.T) {
	at, alive := processStarted(os.Getpid())
	if !alive || at.IsZero() || at.After(time.Now()) || time.Since(at) > time.Hour {
		t.Errorf("this process: started %v, alive %v; want alive, started in the last hour", at, alive)
	}
	// An exited child not yet waited for is a zombie: not alive.
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, alive := processStarted(pid); !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exited child %d still reported alive", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Wait()
	if _, alive := processStarted(pid); alive {
		t.Logf("pid %d was reused at once", pid) // possible, not a failure
	}
}

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
	for len(netnsPids(srv)) == 0 {
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
