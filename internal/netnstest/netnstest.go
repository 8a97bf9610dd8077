//go:build linux

// Package netnstest names the network namespaces that rackboot's tests make
// and removes those a killed run left behind. Every package whose tests
// build a lab (test/e2e, internal/dhcp, internal/storm) names its
// namespaces <prefix><pid>-<id>-<role>, the pid being the test binary's, so
// that a run killed before its cleanups (go test -timeout, ^C) leaves names
// the next run can recognise: the pid is dead, or was reused by a process
// started after the namespace was made.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Name is the namespace name for one lab: prefix, this process's pid, the
// lab's random id and the host's role.
func Name(prefix, id, role string) string {
	return fmt.Sprintf("%s%d-%s-%s", prefix, os.Getpid(), id, role)
}

// SweepStale removes the namespaces with one of prefixes that a dead run
// left, after killing what still runs inside them; deleting a namespace
// destroys its bridge, taps and veths. It returns what it removed, each as
// "name (pid N gone)".
func SweepStale(prefixes ...string) []string {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		info, err := os.Stat(filepath.Join("/run/netns", e.Name()))
		if err != nil {
			continue
		}
		for _, prefix := range prefixes {
			pid, stale := Stale(e.Name(), prefix, os.Getpid(), info.ModTime(), ProcessStarted)
			if !stale {
				continue
			}
			for _, p := range Pids(e.Name()) {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			if exec.Command("ip", "netns", "delete", e.Name()).Run() == nil {
				removed = append(removed, fmt.Sprintf("%s (pid %d gone)", e.Name(), pid))
			}
		}
	}
	return removed
}

// Pids lists the processes inside the namespace name.
func Pids(name string) []int {
	out, err := exec.Command("ip", "netns", "pids", name).Output()
	if err != nil {
		return nil
	}
	var list []int
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			list = append(list, pid)
		}
	}
	return list
}

// Stale decides whether the namespace name, made at made, was left by a
// dead run: it is "<prefix><pid>-<id>-<role>", the pid is not self's, and no
// live process has that pid, or the one that has it started after the
// namespace was made (the pid was reused). started reports a pid's start
// time (zero if unknown) and whether it is alive. A name of the older form
// "<prefix><id>-<role>" is never stale: a random id may be all digits.
func Stale(name, prefix string, self int, made time.Time, started func(pid int) (time.Time, bool)) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	digits, idRole, ok := strings.Cut(rest, "-")
	if !ok || !strings.Contains(idRole, "-") || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	if err != nil || pid <= 0 || pid == self {
		return 0, false
	}
	at, alive := started(pid)
	// The owner started before it made the namespace; /proc's start time is
	// only as exact as the boot time's whole second, hence the margin.
	reused := !at.IsZero() && at.After(made.Add(2*time.Second))
	return pid, !alive || reused
}

// ProcessStarted reports whether pid is alive (a zombie is not) and when it
// started, from /proc/<pid>/stat (zero if that cannot be read).
func ProcessStarted(pid int) (time.Time, bool) {
	if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
		return time.Time{}, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := strings.LastIndexByte(string(b), ')') // the command name may hold anything
	if err != nil || i < 0 {
		return time.Time{}, true
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3, the state
	if len(f) > 0 && f[0] == "Z" {
		return time.Time{}, false
	}
	if len(f) < 20 {
		return time.Time{}, true
	}
	ticks, err1 := strconv.ParseInt(f[19], 10, 64) // field 22: clock ticks after boot
	boot, err2 := bootTime()
	if err1 != nil || err2 != nil {
		return time.Time{}, true
	}
	return boot.Add(time.Duration(ticks) * time.Second / 100), true // USER_HZ is 100 on Linux
}

// bootTime is /proc/stat's btime.
func bootTime() (time.Time, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Unix(sec, 0), err
		}
	}
	return time.Time{}, fmt.Errorf("no btime in /proc/stat")
}
