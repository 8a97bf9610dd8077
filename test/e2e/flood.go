//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// FloodRRQ sends n TFTP read requests for file to server port 69 from inside
// ns, spread evenly over d, each from a new socket (a fresh source port) that
// is closed at once: no request is ever answered, as in a flood from one
// host. It stops early when ctx ends and returns how many it sent.
func FloodRRQ(ctx context.Context, ns Netns, server netip.Addr, file string, n int, d time.Duration) (int, error) {
	rrq := append(append([]byte{0, 1}, file...), 0)
	rrq = append(append(rrq, "octet"...), 0)
	rrq = append(append(rrq, "tsize"...), 0, '0', 0)
	to := &unix.SockaddrInet4{Port: 69, Addr: server.As4()}
	sent := 0
	// Raw system calls on the thread ns.do switched into the namespace: a
	// socket belongs to the namespace of the thread that made it.
	err := ns.do(func() error {
		start := time.Now()
		for sent < n && ctx.Err() == nil {
			if sent%256 == 0 {
				pace(ctx, start, sent, n, d)
			}
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("flood: socket: %w", err)
			}
			err = unix.Sendto(fd, rrq, 0, to)
			unix.Close(fd)
			if err == nil {
				sent++
			}
		}
		return nil
	})
	return sent, err
}

// pace sleeps while sent is ahead of an even spread of n over d.
func pace(ctx context.Context, start time.Time, sent, n int, d time.Duration) {
	for ctx.Err() == nil {
		due := float64(n) * float64(time.Since(start)) / float64(d)
		if float64(sent) <= due {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// Memory is a process's resident memory from /proc/<pid>/status, in bytes.
type Memory struct {
	RSS int64 // VmRSS: resident now
	HWM int64 // VmHWM: the most it has ever been resident
}

// ProcMemory reads pid's resident memory.
func ProcMemory(pid int) (Memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	defer f.Close()
	var m Memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("/proc/%d/status: %s: %w", pid, sc.Text(), err)
		}
		if name == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.HWM = kb << 10
		}
	}
	if m.RSS == 0 || m.HWM == 0 {
		return m, fmt.Errorf("/proc/%d/status: no VmRSS or VmHWM", pid)
	}
	return m, sc.Err()
}
