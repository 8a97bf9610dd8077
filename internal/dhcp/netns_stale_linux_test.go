package dhcp

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests' namespaces are named <prefix><pid>-<random id>-<role>, the pid
// being the test binary's, so that a run killed before its cleanups (go test
// -timeout, ^C) leaves namespaces the next run can recognise and remove. The
// same rule as test/e2e's netns.go (test packages share no code).
var netnsPrefixes = []string{"rbtest-", "rbf-"}

func netnsName(prefix, id, role string) string {
	return fmt.Sprintf("%s%d-%s-%s", prefix, os.Getpid(), id, role)
}

var sweepOnce sync.Once

// sweepStaleNetns removes, once per test binary, the namespaces of dead runs
// and kills what still runs in them; their veths and bridges go with them.
func sweepStaleNetns(t *testing.T) {
	sweepOnce.Do(func() {
		entries, _ := os.ReadDir("/run/netns")
		for _, e := range entries {
			info, err := os.Stat(filepath.Join("/run/netns", e.Name()))
			if err != nil {
				continue
			}
			for _, prefix := range netnsPrefixes {
				if pid, stale := staleNetns(e.Name(), prefix, os.Getpid(), info.ModTime(), processStarted); stale {
					out, _ := exec.Command("ip", "netns", "pids", e.Name()).Output()
					for _, f := range strings.Fields(string(out)) {
						if p, err := strconv.Atoi(f); err == nil {
							syscall.Kill(p, syscall.SIGKILL)
						}
					}
					if exec.Command("ip", "netns", "del", e.Name()).Run() == nil {
						t.Logf("removed namespace %s, left by a killed run (pid %d gone)", e.Name(), pid)
					}
				}
			}
		}
	})
}

// staleNetns reports whether name, made at made, is "<prefix><pid>-<id>-<role>"
// with a pid other than self that is dead, or alive but started after the
// namespace was made (reused). started gives a pid's start time (zero if
// unknown) and whether it lives. Names of the older form "<prefix><id>-<role>"
// are never taken for stale: a random id may be all digits.
func staleNetns(name, prefix string, self int, made time.Time, started func(pid int) (time.Time, bool)) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	digits, idRole, ok2 := strings.Cut(rest, "-")
	if !ok || !ok2 || !strings.Contains(idRole, "-") || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 || pid == self {
		return 0, false
	}
	at, alive := started(pid)
	return pid, !alive || (!at.IsZero() && at.After(made.Add(2*time.Second)))
}

// processStarted reports whether pid lives (a zombie does not) and its start
// time from /proc/<pid>/stat (field 22, USER_HZ ticks after /proc/stat's btime).
func processStarted(pid int) (time.Time, bool) {
	if syscall.Kill(pid, 0) == syscall.ESRCH {
		return time.Time{}, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := strings.LastIndexByte(string(b), ')')
	if err != nil || i < 0 {
		return time.Time{}, true
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) > 0 && f[0] == "Z" {
		return time.Time{}, false
	}
	st, _ := os.ReadFile("/proc/stat")
	_, btime, _ := strings.Cut(string(st), "\nbtime ")
	btime, _, _ = strings.Cut(btime, "\n")
	boot, err1 := strconv.ParseInt(btime, 10, 64)
	if len(f) < 20 || err1 != nil {
		return time.Time{}, true
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return time.Time{}, true
	}
	return time.Unix(boot, 0).Add(time.Duration(ticks) * time.Second / 100), true
}

func TestStaleNetns(t *testing.T) {
	made := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	procs := map[int]time.Time{100: made.Add(-time.Minute), 200: made.Add(time.Hour), 300: {}}
	started := func(pid int) (time.Time, bool) { at, ok := procs[pid]; return at, ok }
	for _, tc := range []struct {
		name, prefix string
		stale        bool
	}{
		{"rbtest-999-a1b2c3-s", "rbtest-", true}, // pid gone
		{"rbf-999-a1b2c3-srv", "rbf-", true},
		{"rbf-200-a1b2c3-h1", "rbf-", true},       // pid reused since
		{"rbtest-100-a1b2c3-c", "rbtest-", false}, // its run is alive
		{"rbtest-300-a1b2c3-c", "rbtest-", false}, // alive, start unknown
		{"rbtest-42-a1b2c3-c", "rbtest-", false},  // ours
		{"rbtest-a1b2c3-s", "rbtest-", false},     // an old random id, not a pid
		{"rbtest-123456-s", "rbtest-", false},     // an old random id, all digits
		{"rbtest-999", "rbtest-", false},
		{"rbf-999-x", "rbtest-", false},
		{"rbbench-999-srv", "rbtest-", false},
	} {
		if _, stale := staleNetns(tc.name, tc.prefix, 42, made, started); stale != tc.stale {
			t.Errorf("staleNetns(%q, %q) = %v, want %v", tc.name, tc.prefix, stale, tc.stale)
		}
	}
	if at, alive := processStarted(os.Getpid()); !alive || at.IsZero() || time.Since(at) > time.Hour || at.After(time.Now()) {
		t.Errorf("this process: started %v, alive %v", at, alive)
	}
}
