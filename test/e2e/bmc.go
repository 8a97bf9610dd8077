//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"rackboot/internal/bmc/ipmisim"
)

// BMC is a machine with a BMC: OpenIPMI's ipmi_sim (lanplus) on its own
// lab host, whose power commands start and stop a BIOS QEMU machine in the
// server's namespace (on a tap of the lab's bridge). QEMU's
// ipmi-bmc-extern device connects back to ipmi_sim (its VM serial codec),
// so a power off or cycle reaches the machine as a real BMC's would. The
// BMC's LAN address is on the lab's bridge only.
type BMC struct {
	Host     *Host
	Addr     netip.Addr // the BMC's LAN address
	User     string
	Password string
	MAC      string // the machine's NIC
	Proc     *Process
	dir      string
	name     string
}

// vmPort is where ipmi_sim waits for QEMU's ipmi-bmc-extern.
const vmPort = 9002

// StartBMC starts the machine's BMC (on host "bmc" at lab address .5); the
// machine is off until the BMC powers it on.
func StartBMC(ctx context.Context, t testing.TB, lab *Lab, name string) *BMC {
	t.Helper()
	RequireCommands(t, ipmisim.Binary, "ipmitool", QEMUBinary)
	RequireAccel(t)
	b := &BMC{User: "admin", Password: "rb-" + randomHex(6), MAC: RandomMAC(), name: name, dir: filepath.Join(lab.Out, name+"-bmc")}
	b.Host = lab.AddHost(t, "bmc", lab.Addr(5))
	b.Addr = b.Host.IP
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tap := lab.AddTap(t)
	// The machine: as RunBIOS's, plus the IPMI devices, with a console
	// file per power-on (<name>-<n>.serial) and its pid kept for cleanup.
	argv := append([]string{QEMUBinary, "-name", "rbe2e-" + name}, AccelArgs()...)
	argv = append(argv,
		"-smp", "1", "-display", "none", "-monitor", "none",
		"-netdev", fmt.Sprintf("tap,id=n0,ifname=%s,script=no,downscript=no", tap),
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-chardev", fmt.Sprintf("socket,id=ipmi0,host=%s,port=%d,reconnect=1", b.Addr, vmPort),
		"-device", "ipmi-bmc-extern,id=bmc0,chardev=ipmi0",
		"-device", "isa-ipmi-kcs,bmc=bmc0",
		"-serial", "file:"+filepath.Join(b.dir, name)+`-$n.serial`,
	)
	argv = append(argv, biosArgs(b.MAC)...)
	var quoted []string
	for _, a := range lab.Server.Command(argv...) {
		if strings.Contains(a, "$n") {
			quoted = append(quoted, `"`+a+`"`) // the console's number
			continue
		}
		quoted = append(quoted, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	script := filepath.Join(b.dir, "power-on.sh")
	// QEMU's exit status is kept per power-on (the test kernel exits with
	// 33); ipmi_sim's SIGTERM, when the machine ignores a power off,
	// reaches QEMU through the trap.
	body := fmt.Sprintf(`#!/bin/sh
# ipmi_sim's startcmd: one power-on of the machine.
n=$(( $(cat %[1]s/count 2>/dev/null || echo 0) + 1 ))
echo $n > %[1]s/count
echo "power on $n: $(date +%%T.%%N)" >> %[1]s/power.log
%[2]s >> %[1]s/qemu.log 2>&1 &
q=$!
echo $q > %[1]s/qemu.pid
trap 'kill $q 2>/dev/null' TERM INT
wait $q
st=$?
while kill -0 $q 2>/dev/null; do wait $q; st=$?; done
echo $st > %[1]s/exit-$n
exit $st
`, b.dir, strings.Join(quoted, " "))
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	simArgv, err := ipmisim.Config{Addr: b.Addr.String(), User: b.User, Password: b.Password, StartCmd: script,
		VMAddr: b.Addr.String(), VMPort: vmPort, PowerOffWait: 10}.Files(b.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.killMachine) // after ipmi_sim's own stop (cleanups run last first)
	b.Proc = lab.Start(t, b.Host.NS, name+"-ipmi_sim", simArgv...)
	lab.AddLog(name+" QEMU", filepath.Join(b.dir, "qemu.log"), false)
	for n := 1; n <= 4; n++ {
		lab.AddLog(fmt.Sprintf("%s console %d", name, n), b.ConsolePath(n), true)
	}
	// Wait until the BMC answers.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := b.PowerState(ctx, lab)
		if err == nil && st == "off" {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("BMC %s does not answer: %q %v", b.Addr, st, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("BMC %s (ipmi_sim, lanplus) for machine %s on %s", b.Addr, b.MAC, tap)
	return b
}

// ConsolePath is the serial console of the machine's n-th power-on.
func (b *BMC) ConsolePath(n int) string {
	return filepath.Join(b.dir, fmt.Sprintf("%s-%d.serial", b.name, n))
}

// PowerOns is how many times the BMC has started the machine.
func (b *BMC) PowerOns() int {
	raw, _ := os.ReadFile(filepath.Join(b.dir, "count"))
	n := 0
	fmt.Sscan(strings.TrimSpace(string(raw)), &n)
	return n
}

// Boot returns the n-th power-on's machine as a VM whose console can be read.
func (b *BMC) Boot(n int) *VM {
	return &VM{Name: fmt.Sprintf("%s-%d", b.name, n), Firmware: BIOS, MAC: b.MAC, Console: &Console{Path: b.ConsolePath(n)}}
}

// ExitCode waits (at most d) for the n-th power-on's QEMU to exit and
// returns its status.
func (b *BMC) ExitCode(n int, d time.Duration) (int, error) {
	path := filepath.Join(b.dir, fmt.Sprintf("exit-%d", n))
	for deadline := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		raw, err := os.ReadFile(path)
		if err == nil {
			code := -1
			_, err = fmt.Sscan(strings.TrimSpace(string(raw)), &code)
			return code, err
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("power-on %d: QEMU still running after %s", n, d)
		}
	}
}

// WaitConsole waits for re on the n-th power-on's console.
func (b *BMC) WaitConsole(ctx context.Context, n int, re *regexp.Regexp) error {
	ctx, cancel := context.WithTimeout(ctx, VMTimeout)
	defer cancel()
	_, err := b.Boot(n).Console.WaitFor(ctx, re, nil)
	return err
}

// IPMITool runs ipmitool against the BMC from the server's namespace, as
// an operator would.
func (b *BMC) IPMITool(ctx context.Context, lab *Lab, args ...string) (string, error) {
	argv := append([]string{"ipmitool", "-I", "lanplus", "-H", b.Addr.String(), "-U", b.User, "-P", b.Password}, args...)
	return lab.Server.Exec(ctx, argv...)
}

var chassisPower = regexp.MustCompile(`Chassis Power is (on|off)`)

// PowerState is what ipmitool says of the machine's power: "on" or "off".
func (b *BMC) PowerState(ctx context.Context, lab *Lab) (string, error) {
	out, err := b.IPMITool(ctx, lab, "chassis", "power", "status")
	if m := chassisPower.FindStringSubmatch(out); m != nil {
		return m[1], nil
	}
	return "", fmt.Errorf("ipmitool chassis power status: %v: %s", err, out)
}

// killMachine stops a QEMU the BMC left running.
func (b *BMC) killMachine() {
	raw, err := os.ReadFile(filepath.Join(b.dir, "qemu.pid"))
	if err != nil {
		return
	}
	var pid int
	if _, err := fmt.Sscan(strings.TrimSpace(string(raw)), &pid); err == nil && pid > 1 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
