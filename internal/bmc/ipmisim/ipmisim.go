// Package ipmisim is test support: OpenIPMI's BMC simulator, ipmi_sim
// (Debian package openipmi), set up as a lanplus BMC with one admin user.
// With StartCmd it manages a machine's power the way ipmi_sim does for
// QEMU: power on runs the command, power off asks the machine over the VM
// serial link (QEMU's ipmi-bmc-extern) and kills it if it does not stop;
// the machine is on while the command runs.
package ipmisim

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binary is the simulator's command.
const Binary = "ipmi_sim"

// RequiredEnv, when set, makes a missing ipmi_sim a test failure rather
// than a skip (make test sets it).
const RequiredEnv = "RACKBOOT_IPMI_REQUIRED"

// Config is one simulated BMC.
type Config struct {
	Addr     string // the LAN address it listens on (an address of its namespace, or 127.0.0.1)
	Port     int    // UDP; 0 is 623
	User     string // an admin user
	Password string
	// StartCmd is run (by /bin/sh) at power on; empty: power commands
	// change nothing.
	StartCmd string
	// VMAddr and VMPort are where ipmi_sim waits for QEMU's
	// ipmi-bmc-extern chardev (its "VM" serial codec); VMPort 0: none.
	VMAddr string
	VMPort int
	// PowerOffWait is how long a graceful power off may take before
	// ipmi_sim kills the machine (seconds); 0 is 5.
	PowerOffWait int
}

// Files writes the LAN configuration and the command file into dir and
// returns the command line that runs the simulator in the foreground.
func (c Config) Files(dir string) (argv []string, err error) {
	port := c.Port
	if port == 0 {
		port = 623
	}
	wait := c.PowerOffWait
	if wait == 0 {
		wait = 5
	}
	var lan strings.Builder
	fmt.Fprintf(&lan, "name \"rbsim\"\nset_working_mc 0x20\n")
	fmt.Fprintf(&lan, "startlan 1\n  addr %s %d\n  priv_limit admin\n", c.Addr, port)
	for _, p := range []string{"callback", "user", "operator", "admin"} {
		fmt.Fprintf(&lan, "  allowed_auths_%s md5\n", p)
	}
	fmt.Fprintf(&lan, "  guid a123456789abcdefa123456789abcdef\nendlan\n")
	if c.VMPort != 0 {
		fmt.Fprintf(&lan, "serial 15 %s %d codec VM\n", c.VMAddr, c.VMPort)
	}
	if c.StartCmd != "" {
		if strings.ContainsAny(c.StartCmd, "\"\n") {
			return nil, errors.New("ipmisim: StartCmd may not hold double quotes or newlines (write a script)")
		}
		fmt.Fprintf(&lan, "startcmd \"%s\"\nstartnow false\npoweroff_wait %d\nkill_wait 5\n", c.StartCmd, wait)
	}
	fmt.Fprintf(&lan, "user 2 true \"%s\" \"%s\" admin 10 md5\n", c.User, c.Password)
	emu := "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nsel_enable 0x20 1000 0x0a\nmc_enable 0x20\n"
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, err
	}
	lanPath, emuPath := filepath.Join(dir, "lan.conf"), filepath.Join(dir, "ipmisim.emu")
	if err := os.WriteFile(lanPath, []byte(lan.String()), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(emuPath, []byte(emu), 0o600); err != nil {
		return nil, err
	}
	return []string{Binary, "-c", lanPath, "-f", emuPath, "-s", state, "-n"}, nil
}

// Available reports whether ipmi_sim is installed, with the reason if not.
func Available() error {
	if _, err := exec.LookPath(Binary); err != nil {
		return fmt.Errorf("%s not found (apt-get install openipmi): %w", Binary, err)
	}
	return nil
}
