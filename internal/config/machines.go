package config

import (
	"fmt"
	"strings"
)

// Machines configures the machine registry.
type Machines struct {
	// Rules give groups of machines defaults, matched by MAC prefix and
	// labels; every matching rule applies, in file order, and a machine's
	// own settings (set through the API) win over them all.
	Rules []MachineRule `yaml:"rules"`
}

// MachineRule is one group default.
type MachineRule struct {
	Name         string            `yaml:"name"`
	MACPrefix    string            `yaml:"mac_prefix"`
	Labels       map[string]string `yaml:"labels"`
	Default      string            `yaml:"default"` // item id or platform build
	BootArgs     BootArgs          `yaml:"boot_args"`
	RootPassword string            `yaml:"root_password"` // hashed at start
	RootShadow   string            `yaml:"root_shadow"`
	SkipMenu     *bool             `yaml:"skip_menu"`
	BMC          *RuleBMC          `yaml:"bmc"` // bmc.go
	// SecureBoot: the machines boot UEFI with Secure Boot on (the signed
	// shim and GRUB of secure_boot:, not iPXE).
	SecureBoot *bool `yaml:"secure_boot"`
}

// API configures the HTTP API under /api/v1.
type API struct {
	// OpenReads lets GET requests through without the token: the dashboard
	// and `rackboot machines list` work from the boot network without it.
	// Writes always need the token.
	OpenReads bool `yaml:"open_reads"`
}

func (m *Machines) validate() error {
	names := map[string]bool{}
	for i, r := range m.Rules {
		key := fmt.Sprintf("machines.rules[%d]", i)
		if r.Name == "" {
			return fmt.Errorf("%s.name: every rule needs a name (it is shown with the machines it matches)", key)
		}
		if names[r.Name] {
			return fmt.Errorf("%s.name: %q is used twice", key, r.Name)
		}
		names[r.Name] = true
		if p := strings.ToLower(r.MACPrefix); len(p) > 17 || strings.Trim(p, "0123456789abcdef:") != "" {
			return fmt.Errorf("%s.mac_prefix: %q: write the start of a MAC address like 52:54:00", key, r.MACPrefix)
		}
		if r.Default != "" && !itemID.MatchString(r.Default) {
			return fmt.Errorf("%s.default: %q is not an item id or platform build", key, r.Default)
		}
		for _, kv := range r.BootArgs {
			if !bootArgName.MatchString(kv.Key) {
				return fmt.Errorf("%s.boot_args: %q is not a -B property name", key, kv.Key)
			}
		}
		if r.RootPassword != "" && r.RootShadow != "" {
			return fmt.Errorf("%s: set root_password or root_shadow, not both", key)
		}
		if err := r.BMC.validate(key); err != nil { // bmc.go
			return err
		}
		if s := r.RootShadow; s != "" && !shadowHash.MatchString(s) {
			return fmt.Errorf("%s.root_shadow: %q is not a crypt(3) hash like $5$salt$hash (or use root_password)", key, s)
		}
	}
	return nil
}
