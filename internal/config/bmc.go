package config

import (
	"fmt"
	"time"
)

// BMC configures what rackboot does through machines' BMCs (rackboot
// machines power, machines boot --now) and how long it waits for a booted
// OS to show itself.
type BMC struct {
	// Timeout is how long one IPMI exchange waits for its answer (then it
	// is sent again, Retries times, but for a power command, sent once);
	// default 2s.
	Timeout Duration `yaml:"timeout"`
	Retries int      `yaml:"retries"` // default 2
	// Parallel is how many BMC sessions run at once; default 16.
	Parallel int `yaml:"parallel"`
	// OSSilentAfter marks a boot "OS silent" when its OS shows nothing (no
	// DHCP of its own, no callback) this long after the kernel started;
	// default 10m, negative never.
	OSSilentAfter Duration `yaml:"os_silent_after"`
}

// RuleBMC is a machines.rules entry's BMC defaults: what a rack of one
// vendor shares. Each machine's address is its own.
type RuleBMC struct {
	User string `yaml:"user"`
	// PasswordFile holds the password (read at start; it must not be
	// readable by group or others). There is no password key: the YAML is
	// reviewed and versioned, the password is not.
	PasswordFile string `yaml:"password_file"`
	Interface    string `yaml:"interface"` // lanplus (the default)
}

// BMCDefaults are the values used for what the configuration leaves out.
var BMCDefaults = BMC{Timeout: Duration(2 * time.Second), Retries: 2, Parallel: 16, OSSilentAfter: Duration(10 * time.Minute)}

// WithDefaults fills in what b leaves out.
func (b BMC) WithDefaults() BMC {
	if b.Timeout == 0 {
		b.Timeout = BMCDefaults.Timeout
	}
	if b.Retries == 0 {
		b.Retries = BMCDefaults.Retries
	}
	if b.Parallel == 0 {
		b.Parallel = BMCDefaults.Parallel
	}
	if b.OSSilentAfter == 0 {
		b.OSSilentAfter = BMCDefaults.OSSilentAfter
	}
	return b
}

func (b BMC) validate() error {
	if b.Timeout < 0 || b.Retries < 0 || b.Parallel < 0 {
		return fmt.Errorf("bmc: timeout, retries and parallel cannot be negative")
	}
	if b.Parallel > 1024 {
		return fmt.Errorf("bmc.parallel: %d sessions at once is more than a BMC network needs (at most 1024)", b.Parallel)
	}
	return nil
}

func (r *RuleBMC) validate(key string) error {
	if r == nil {
		return nil
	}
	switch r.Interface {
	case "", "lanplus":
	default:
		return fmt.Errorf("%s.bmc.interface: %q: rackboot speaks lanplus (IPMI v2.0)", key, r.Interface)
	}
	if len(r.User) > 16 {
		return fmt.Errorf("%s.bmc.user: IPMI user names are at most 16 bytes", key)
	}
	return nil
}
