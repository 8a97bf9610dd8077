//go:build linux

package bmc

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rackboot/internal/bmc/ipmisim"
)

func ipmisimRequired() bool { return os.Getenv(ipmisim.RequiredEnv) != "" }

// startSim runs ipmi_sim on a free loopback port; its "machine" is a
// sleep whose pid file says whether it runs. It returns the address.
func startSim(t *testing.T) (addr, pidfile string) {
	t.Helper()
	requireSim(t)
	dir := t.TempDir()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	vmPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	pidfile = filepath.Join(dir, "machine.pid")
	script := filepath.Join(dir, "machine.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho $$ > "+pidfile+"\nexec sleep 600\n"), 0o755)
	argv, err := ipmisim.Config{Addr: "127.0.0.1", Port: port, User: "admin", Password: secret, StartCmd: script, PowerOffWait: 1,
		VMAddr: "127.0.0.1", VMPort: vmPort}.Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if b, err := os.ReadFile(pidfile); err == nil {
			exec.Command("kill", strings.TrimSpace(string(b))).Run()
		}
	})
	addr = net.JoinHostPort("127.0.0.1", itoa(port))
	// Wait until it answers.
	o := newOperator(t, map[string]Credentials{"52:54:00:00:00:ff": {Address: addr, User: "admin", Password: secret}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := o.Power(context.Background(), "52:54:00:00:00:ff", Status)
		if r.OK() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ipmi_sim does not answer: %+v", r)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return addr, pidfile
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestPowerWithIPMISim drives ipmi_sim over lanplus: status, on (its
// machine starts), on again (nothing), cycle, off (it stops), reset while
// off (refused), and a network boot whose boot-device step ipmi_sim
// refuses (a warning; an error when required).
func TestPowerWithIPMISim(t *testing.T) {
	addr, pidfile := startSim(t)
	mac := "52:54:00:00:00:01"
	var powered atomic.Int32
	o := newOperator(t, map[string]Credentials{mac: {Address: addr, User: "admin", Password: secret}})
	o.OnPowerOn = func(string, time.Time, Action, string) { powered.Add(1) }
	ctx := context.Background()
	running := func() bool {
		b, err := os.ReadFile(pidfile)
		if err != nil {
			return false
		}
		return exec.Command("kill", "-0", strings.TrimSpace(string(b))).Run() == nil
	}
	step := func(a Action, wantPower Power, wantDone string) {
		t.Helper()
		r := o.Power(ctx, mac, a)
		if !r.OK() || r.Power != wantPower || r.Done != wantDone {
			t.Fatalf("power %s: %+v, want power %s, done %q", a, r, wantPower, wantDone)
		}
	}
	step(Status, PowerOff, "is off")
	step(On, PowerOff, "powered on")
	waitFor(t, running)
	step(Status, PowerOn, "is on")
	step(On, PowerOn, "already on")
	step(Off, PowerOn, "powered off")
	waitFor(t, func() bool { return !running() })
	if r := o.Power(ctx, mac, Reset); r.Kind != KindState {
		t.Errorf("reset while off: %+v", r)
	}
	step(Cycle, PowerOff, "powered on") // a cycle of a machine that is off powers it on
	waitFor(t, running)

	r := o.BootFromNetwork(ctx, mac, NetBoot{EFI: true})
	if !r.OK() || r.Done != "power cycled" || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "boot device") {
		t.Errorf("network boot: %+v", r)
	}
	r = o.BootFromNetwork(ctx, mac, NetBoot{RequireBootDevice: true})
	if r.Kind != KindUnsupported || !strings.Contains(r.Error, "Invalid data field in request (0xcc)") {
		t.Errorf("network boot, boot device required: %+v", r)
	}
	if n := powered.Load(); n != 3 {
		t.Errorf("OnPowerOn called %d times, want 3 (on, cycle from off, network boot)", n)
	}
}

func TestPowerErrors(t *testing.T) {
	addr, _ := startSim(t)
	pc, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	silent := pc.LocalAddr().String() // bound, never answers
	defer pc.Close()
	o := newOperator(t, map[string]Credentials{
		"52:54:00:00:00:01": {Address: addr, User: "admin", Password: "wrong"},
		"52:54:00:00:00:02": {Address: addr, User: "nobody", Password: secret},
		"52:54:00:00:00:03": {Address: silent, User: "admin", Password: secret},
	})
	o.Options = DialOptions{Timeout: 200 * time.Millisecond, Retries: 1}
	o.Attempts = 2
	for mac, want := range map[string]Kind{"52:54:00:00:00:01": KindAuth, "52:54:00:00:00:02": KindAuth, "52:54:00:00:00:03": KindNoAnswer} {
		r := o.Power(context.Background(), mac, Status)
		if r.Kind != want || strings.Contains(r.Error, secret) || strings.Contains(r.Error, "\n") {
			t.Errorf("%s: %+v, want %s", mac, r, want)
		}
		t.Logf("%s: %s", mac, r.Error)
	}
}

// TestParallelBound: many machines at once never hold more than Parallel
// sessions with the BMC.
func TestParallelBound(t *testing.T) {
	addr, _ := startSim(t)
	creds := map[string]Credentials{}
	var macs []string
	for i := 0; i < 12; i++ {
		mac := "52:54:00:00:01:" + fmtHex(i)
		macs = append(macs, mac)
		creds[mac] = Credentials{Address: addr, User: "admin", Password: secret}
	}
	o := newOperator(t, creds)
	o.Parallel = 3
	var now, peak atomic.Int32
	o.Dial = func(ctx context.Context, c Credentials, opt DialOptions) (Controller, error) {
		n := now.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		ctl, err := Dial(ctx, c, opt)
		if err != nil {
			now.Add(-1)
			return nil, err
		}
		return countingController{ctl, &now}, nil
	}
	var wg sync.WaitGroup
	for _, mac := range macs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := o.Power(context.Background(), mac, Status); !r.OK() {
				t.Errorf("%s: %+v", mac, r)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 3 || p < 1 {
		t.Errorf("peak sessions %d, want 1..3", p)
	}
}

type countingController struct {
	Controller
	n *atomic.Int32
}

func (c countingController) Close(ctx context.Context) error {
	defer c.n.Add(-1)
	return c.Controller.Close(ctx)
}

func fmtHex(i int) string { return string("0123456789abcdef"[i/16]) + string("0123456789abcdef"[i%16]) }

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 15 s")
}

// dropProxy relays UDP between one client and a BMC; while dropping, it
// lets the client's packets through but loses the BMC's answers, and
// counts the client's packets sent meanwhile.
type dropProxy struct {
	conn     *net.UDPConn
	dropping atomic.Bool
	sent     atomic.Int32 // client packets relayed while dropping
}

func startDropProxy(t *testing.T, bmcAddr string) *dropProxy {
	t.Helper()
	ra, err := net.ResolveUDPAddr("udp4", bmcAddr)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	up, err := net.DialUDP("udp4", nil, ra)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); up.Close() })
	p := &dropProxy{conn: conn}
	var client atomic.Pointer[net.UDPAddr]
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			client.Store(from)
			if p.dropping.Load() {
				p.sent.Add(1)
			}
			up.Write(buf[:n])
		}
	}()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := up.Read(buf)
			if err != nil {
				return
			}
			if c := client.Load(); c != nil && !p.dropping.Load() {
				conn.WriteToUDP(buf[:n], c)
			}
		}
	}()
	return p
}

// TestPowerCommandSentOnce: a chassis control whose answer is lost may
// have been carried out (a power cycle twice reboots twice), so it goes
// out once: no-answer, one packet, although the session's other
// exchanges are sent again Retries times.
func TestPowerCommandSentOnce(t *testing.T) {
	addr, _ := startSim(t)
	p := startDropProxy(t, addr)
	ctx := context.Background()
	c, err := Dial(ctx, Credentials{Address: p.conn.LocalAddr().String(), User: "admin", Password: secret},
		DialOptions{Timeout: 300 * time.Millisecond, Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.PowerState(ctx); err != nil {
		t.Fatal(err)
	}
	p.dropping.Store(true)
	err = c.Power(ctx, On)
	if KindOf(err) != KindNoAnswer {
		t.Fatalf("power on with its answer lost: %v, want no-answer", err)
	}
	if n := p.sent.Load(); n != 1 {
		t.Errorf("the power command went out %d times, want once", n)
	}
	if !strings.Contains(err.Error(), "power status") {
		t.Errorf("no answer to a power command does not say to check the power state: %v", err)
	}
	// The exchanges that change nothing are still sent again.
	p.sent.Store(0)
	if _, err := c.PowerState(ctx); KindOf(err) != KindNoAnswer {
		t.Fatalf("status with its answer lost: %v", err)
	}
	if n := p.sent.Load(); n != 3 {
		t.Errorf("status went out %d times, want 3 (Retries 2)", n)
	}
}

// TestFailedDialCloses: a session that fails to open (a wrong password)
// leaves no socket behind: a power status every minute against a BMC
// with a stale password must not use up rackboot's file descriptors.
func TestFailedDialCloses(t *testing.T) {
	addr, _ := startSim(t)
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	ctx := context.Background()
	before := fds()
	const dials = 20
	for range dials {
		if _, err := Dial(ctx, Credentials{Address: addr, User: "admin", Password: "not-the-password"}, DialOptions{Timeout: time.Second}); KindOf(err) != KindAuth {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if grew := fds() - before; grew >= dials/2 {
		t.Errorf("%d failed sessions left %d more open files", dials, grew)
	}
}
