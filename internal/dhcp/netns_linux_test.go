package dhcp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"rackboot/internal/dhcp4"
)

// testNet is a pair of network namespaces made for one test, joined by a
// veth: the server's end and the client's. Nothing here touches the host's
// own interfaces; the namespaces go away in t.Cleanup.
type testNet struct {
	srvNS, cliNS string
	srvIf, cliIf string
	srvIP, cliIP netip.Addr
}

func setupNetns(t *testing.T) *testNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip command")
	}
	sweepStaleNetns(t)
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	id := hex.EncodeToString(rnd[:])
	n := &testNet{
		srvNS: netnsName("rbtest-", id, "s"), cliNS: netnsName("rbtest-", id, "c"),
		srvIf: "rbs" + id, cliIf: "rbc" + id,
		srvIP: netip.AddrFrom4([4]byte{10, 250, rnd[0], 1}),
		cliIP: netip.AddrFrom4([4]byte{10, 250, rnd[0], 2}),
	}
	t.Cleanup(func() {
		for _, ns := range []string{n.srvNS, n.cliNS} {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil &&
				!strings.Contains(string(out), "No such file") {
				t.Logf("ip netns del %s: %v: %s", ns, err, out)
			}
		}
	})
	if out, err := exec.Command("ip", "netns", "add", n.srvNS).CombinedOutput(); err != nil {
		t.Skipf("cannot create network namespaces here: %v: %s", err, out)
	}
	cmds := [][]string{
		{"netns", "add", n.cliNS},
		{"link", "add", n.srvIf, "netns", n.srvNS, "type", "veth", "peer", "name", n.cliIf, "netns", n.cliNS},
		{"-n", n.srvNS, "addr", "add", n.srvIP.String() + "/24", "dev", n.srvIf},
		{"-n", n.cliNS, "addr", "add", n.cliIP.String() + "/24", "dev", n.cliIf},
		{"-n", n.srvNS, "link", "set", n.srvIf, "up"},
		{"-n", n.cliNS, "link", "set", n.cliIf, "up"},
		{"-n", n.srvNS, "link", "set", "lo", "up"},
		{"-n", n.cliNS, "link", "set", "lo", "up"},
	}
	for _, args := range cmds {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return n
}

// enterNetns moves the calling goroutine's locked OS thread into ns. The
// caller must have called runtime.LockOSThread and must never unlock: the
// thread then dies with the goroutine instead of running others in ns.
func enterNetns(ns string) error {
	fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Setns(fd, unix.CLONE_NEWNET)
}

// inNetns runs f on a fresh OS thread inside ns. Sockets it opens stay in ns.
func inNetns(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked, see enterNetns
		if err := enterNetns(ns); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// startServer runs s.Serve inside the server namespace until the returned
// stop (also run by t.Cleanup) is called.
func (n *testNet) startServer(t *testing.T, s *ProxyServer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked, see enterNetns
		if err := enterNetns(n.srvNS); err != nil {
			done <- err
			return
		}
		done <- s.Serve(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Serve did not return 5s after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// clientConn is a DHCP client's socket, 0.0.0.0:68 on the client's veth.
func (n *testNet) clientConn(t *testing.T) *net.UDPConn {
	var c *net.UDPConn
	err := inNetns(n.cliNS, func() error {
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = errors.Join(
					unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1),
					unix.BindToDevice(int(fd), n.cliIf))
			})
			return errors.Join(err, serr)
		}}
		pc, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:68")
		if err == nil {
			c = pc.(*net.UDPConn)
		}
		return err
	})
	if err != nil {
		t.Fatalf("client socket: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var limitedBcast67 = netip.MustParseAddrPort("255.255.255.255:67")

// exchange sends req to dst, resending every 300ms like a PXE ROM, until a
// reply with req's xid arrives or 5s pass.
func exchange(t *testing.T, c *net.UDPConn, req *dhcp4.Packet, dst netip.AddrPort) (*dhcp4.Packet, netip.AddrPort) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 2048)
	for time.Now().Before(deadline) {
		if _, err := c.WriteToUDPAddrPort(req.Marshal(), dst); err != nil {
			t.Fatalf("send to %v: %v", dst, err)
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				break // timeout: resend
			}
			p, err := dhcp4.Parse(buf[:n])
			if err == nil && p.Op == dhcp4.OpReply && p.XID == req.XID {
				return p, from
			}
		}
	}
	t.Fatalf("no reply to %v (xid %08x) sent to %v", req.MessageType(), req.XID, dst)
	return nil, netip.AddrPort{}
}

// expectSilence sends req once and fails if any reply to it arrives within d.
func expectSilence(t *testing.T, c *net.UDPConn, req []byte, xid uint32, dst netip.AddrPort, d time.Duration) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort(req, dst); err != nil {
		t.Fatalf("send: %v", err)
	}
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(d))
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if p, err := dhcp4.Parse(buf[:n]); err == nil && p.XID == xid {
			t.Fatalf("unexpected %v from %v", p.MessageType(), from)
		}
	}
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
