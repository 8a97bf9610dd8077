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
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"rackboot/internal/netnstest"
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
	for _, pid := range netnstest.Pids(ns.Name) {
		t.Logf("cleanup: killing pid %d left in namespace %s", pid, ns.Name)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if _, err := runCommand(context.Background(), "ip", "netns", "delete", ns.Name); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

var sweepStaleOnce sync.Once

// sweepStale removes namespaces left behind by harness runs that died without
// cleaning up (e.g. killed by go test -timeout): netnstest's rule, for this
// harness's prefix. It returns what it removed.
func sweepStale() []string { return netnstest.SweepStale(nsPrefix) }

func newRequest(ctx context.Context, url string) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
}
