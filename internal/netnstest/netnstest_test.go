//go:build linux

package netnstest

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestStale(t *testing.T) {
	made := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	procs := map[int]time.Time{
		100: made.Add(-time.Minute), // a live run: started, then made its namespaces
		200: made.Add(time.Hour),    // a process that got a dead run's pid later
		300: {},                     // alive, start time unknown
		400: made.Add(1),            // started within /proc's precision of the namespace
	}
	started := func(pid int) (time.Time, bool) { at, ok := procs[pid]; return at, ok }
	for _, tc := range []struct {
		name, prefix string
		stale        bool
	}{
		{"rbe2e-999-a1b2c3-srv", "rbe2e-", true},   // pid 999 is gone
		{"rbf-999-a1b2c3-srv", "rbf-", true},       // another package's prefix, same rule
		{"rbe2e-200-a1b2c3-srv", "rbe2e-", true},   // pid reused by a newer process
		{"rbe2e-100-a1b2c3-srv", "rbe2e-", false},  // its run is alive
		{"rbe2e-300-a1b2c3-dhcp", "rbe2e-", false}, // alive, unknown start: keep
		{"rbe2e-400-a1b2c3-srv", "rbe2e-", false},  // too close to call: keep
		{"rbe2e-42-a1b2c3-srv", "rbe2e-", false},   // our own pid
		{"rbtest-a1b2c3-s", "rbtest-", false},      // an old random id, not a pid
		{"rbtest-123456-s", "rbtest-", false},      // an old random id, all digits
		{"rbe2e-999", "rbe2e-", false},             // no "-" after the pid
		{"rbe2e--a1b2c3-srv", "rbe2e-", false},     // no pid
		{"rbe2e-+999-x-y", "rbe2e-", false},        // not only digits
		{"rbe2e-0-x-y", "rbe2e-", false},           // pid 0 is no process
		{"rbe2e-99999999999999999999-x-y", "rbe2e-", false},
		{"rbbench-999-srv-x", "rbe2e-", false}, // another harness's prefix
		{"my-netns", "rbe2e-", false},
	} {
		if _, stale := Stale(tc.name, tc.prefix, 42, made, started); stale != tc.stale {
			t.Errorf("Stale(%q, %q) = %v, want %v", tc.name, tc.prefix, stale, tc.stale)
		}
	}
}

func TestProcessStarted(t *testing.T) {
	at, alive := ProcessStarted(os.Getpid())
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
		if _, alive := ProcessStarted(pid); !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exited child %d still reported alive", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Wait()
}
