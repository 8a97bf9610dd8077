//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is a background program started by the harness, typically inside a
// namespace. Its stdout and stderr go to Log. It is stopped at test cleanup
// (SIGTERM to its process group, SIGKILL after a grace period), and killed by
// the kernel if the test binary itself dies (PR_SET_PDEATHSIG).
type Process struct {
	Name string // short name for logs, e.g. "dnsmasq"
	Log  string // path of the combined stdout/stderr

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	stop    sync.Once
}

// startProcess starts argv with output to logPath.
func startProcess(name, logPath string, argv []string) (*Process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "# %s\n", strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id (of the program itself: `ip netns exec` execs it).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and its exit code if so
// (-1 when killed by a signal).
func (p *Process) Exited() (bool, int) {
	select {
	case <-p.done:
		return true, p.cmd.ProcessState.ExitCode()
	default:
		return false, 0
	}
}

// Wait waits for the process to exit or ctx to end.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Output returns everything the process wrote so far.
func (p *Process) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}

// Stop ends the process and its children (its process group): SIGTERM, then
// SIGKILL after 5 s. Safe to call more than once.
func (p *Process) Stop() {
	p.stop.Do(func() {
		pgid := p.cmd.Process.Pid
		select {
		case <-p.done:
			return
		default:
		}
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// Kill sends SIGKILL to the process group at once (a crash: no cleanup
// runs) and waits for the process to exit.
func (p *Process) Kill() {
	p.stop.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	})
}

// waitUDPPort waits until the process has a UDP socket bound to port, read
// from /proc/<pid>/net/udp (which shows the process's own namespace).
func (p *Process) waitUDPPort(ctx context.Context, port int) error {
	want := fmt.Sprintf(":%04X", port)
	for {
		for _, table := range []string{"udp", "udp6"} {
			b, err := os.ReadFile(filepath.Join("/proc", fmt.Sprint(p.Pid()), "net", table))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n")[1:] {
				// "  sl  local_address rem_address ...": local is HEXADDR:PORT.
				if f := strings.Fields(line); len(f) > 1 && strings.HasSuffix(f[1], want) {
					return nil
				}
			}
		}
		if exited, code := p.Exited(); exited {
			return fmt.Errorf("%s exited (status %d) before listening on UDP port %d", p.Name, code, port)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not listening on UDP port %d: %w", p.Name, port, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runCommand runs a short command and returns its combined output.
func runCommand(ctx context.Context, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || ctx.Err() != nil {
			return string(out), fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
		}
		return string(out), fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return string(out), nil
}

// mustRun runs a short setup command and fails t if it fails.
func mustRun(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := runCommand(context.Background(), argv...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
