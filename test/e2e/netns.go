//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nsPrefix starts the name of every namespace the harness creates; the test
// binary's pid follows, so namespaces left by a killed run can be found and
// removed by the next one.
const nsPrefix = "rbe2e-"

// Netns is a named network namespace (ip netns), living at /run/netns/<Name>.
type Netns struct {
	Name string
}

func (ns Netns) path() string { return filepath.Join("/run/netns", ns.Name) }

// Command returns argv prefixed so that it runs inside the namespace.
func (ns Netns) Command(argv ...string) []string {
	return append([]string{"ip", "netns", "exec", ns.Name}, argv...)
}

// Exec runs a short command inside the namespace and returns its output.
func (ns Netns) Exec(ctx context.Context, argv ...string) (string, error) {
	return runCommand(ctx, ns.Command(argv...)...)
}

// do runs fn on an OS thread switched into the namespace. Sockets created by
// fn stay in the namespace after the thread switches back.
func (ns Netns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer self.Close()
		target, err := os.Open(ns.path())
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("namespace %s: %w", ns.Name, err)
			return
		}
		defer target.Close()
		if err := setns(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter namespace %s: %w", ns.Name, err)
			return
		}
		ferr := fn()
		if err := setns(self); err != nil {
			// Leave the thread locked: it is thrown away when this goroutine
			// ends, instead of running other goroutines in the wrong namespace.
			errc <- fmt.Errorf("leave namespace %s: %w", ns.Name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

func setns(f *os.File) error { return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET) }

// DialContext dials addr (an IP literal and port) from inside the namespace.
func (ns Netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// HTTPClient returns a client whose connections start inside the namespace,
// so the test can talk to servers bound to the lab's addresses.
func (ns Netns) HTTPClient() *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{DialContext: ns.DialContext, DisableKeepAlives: true},
	}
}

// addNetns creates a namespace with its loopback up; t's cleanup deletes it
// after killing anything still running inside it.
func addNetns(t testing.TB, name string) Netns {
	t.Helper()
	sweepStaleOnce.Do(func() {
		for _, r := range sweepStale() {
			t.Logf("removed namespace %s, left by a killed run", r)
		}
	})
	ns := Netns{Name: name}
	mustRun(t, "ip", "netns", "add", name)
	t.Cleanup(func() { deleteNetns(t, ns) })
	mustRun(t, "ip", "-n", name, "link", "set", "lo", "up")
	return ns
}

// deleteNetns kills processes still inside ns (all of them started by this
// harness) and deletes it, which also destroys its interfaces.
func deleteNetns(t testing.TB, ns Netns) {
	for _, pid := range netnsPids(ns.Name) {
		t.Logf("cleanup: killing pid %d left in namespace %s", pid, ns.Name)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if _, err := runCommand(context.Background(), "ip", "netns", "delete", ns.Name); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

func netnsPids(name string) []int {
	out, err := runCommand(context.Background(), "ip", "netns", "pids", name)
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

var sweepStaleOnce sync.Once

// sweepStale removes namespaces left behind by harness runs that died without
// cleaning up (e.g. killed by go test -timeout): their name carries the pid
// of a test binary that no longer exists. Processes still inside are killed
// first; deleting a namespace destroys its bridge, taps and veths. It returns
// what it removed.
func sweepStale() []string {
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
		pid, stale := staleNetns(e.Name(), nsPrefix, os.Getpid(), info.ModTime(), processStarted)
		if !stale {
			continue
		}
		for _, p := range netnsPids(e.Name()) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		if _, err := runCommand(context.Background(), "ip", "netns", "delete", e.Name()); err == nil {
			removed = append(removed, fmt.Sprintf("%s (pid %d gone)", e.Name(), pid))
		}
	}
	return removed
}

// staleNetns decides whether the namespace name, made at made, was left by a
// dead harness run: it is prefix, a pid and "-"; the pid is not self's; and
// no live process has that pid, or the one that has it started after the
// namespace was made (the pid was reused). started reports a pid's start time
// (zero if unknown) and whether it is alive.
func staleNetns(name, prefix string, self int, made time.Time, started func(pid int) (time.Time, bool)) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" {
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

// processStarted reports whether pid is alive (a zombie is not) and when it
// started, from /proc/<pid>/stat (zero if that cannot be read).
func processStarted(pid int) (time.Time, bool) {
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
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return time.Unix(sec, 0), err
		}
	}
	return time.Time{}, fmt.Errorf("/proc/stat: no btime")
}

func newRequest(ctx context.Context, url string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
}
