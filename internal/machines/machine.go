// Package machines is rackboot's machine registry: every machine that has
// network-booted (or that an operator set up before its first boot), kept in
// the store under "machines/<mac>", with what was seen of it (firmware, UUID,
// vendor class, last address, its last boots) and what the operator decided
// for it (name, labels, default menu item, boot-once, extra -B pairs, its own
// root_shadow, skipping the menu).
//
// Group defaults come from Rules, matched by MAC prefix and labels, in the
// spirit of matchbox's groups: a machine's own settings win over every rule,
// and a later rule wins over an earlier one.
package machines

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"rackboot/internal/bootargs"
)

// KeyPrefix is the store namespace of machines.
const KeyPrefix = "machines/"

// Key is the store key of the machine with this (canonical) MAC.
func Key(mac string) string { return KeyPrefix + mac }

// KeepBoots is how many boot summaries a machine keeps.
const KeepBoots = 10

// Machine is one machine's registry entry.
type Machine struct {
	MAC    string            `json:"mac"`
	Name   string            `json:"name,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`

	// Seen on the network.
	Arch        string    `json:"arch,omitempty"`         // firmware: bios, efi-x86_64, ...
	UUID        string    `json:"uuid,omitempty"`         // DHCP option 97
	VendorClass string    `json:"vendor_class,omitempty"` // DHCP option 60
	LastIP      string    `json:"last_ip,omitempty"`
	FirstSeen   time.Time `json:"first_seen,omitzero"`
	LastSeen    time.Time `json:"last_seen,omitzero"`

	// Decided by the operator.
	Settings
	BootOnce string `json:"boot_once,omitempty"` // menu item for the next boot only

	Boots []BootSummary `json:"boots,omitempty"` // the last KeepBoots boots, newest last
}

// Settings are what an operator or a rule can decide for a machine. An
// empty field leaves the decision to the rules, then to the configuration.
type Settings struct {
	Default    string        `json:"default,omitempty"`     // menu item id, or a platform build
	BootArgs   []bootargs.KV `json:"boot_args,omitempty"`   // extra SmartOS -B pairs, merged by key
	RootShadow string        `json:"root_shadow,omitempty"` // SmartOS root_shadow
	SkipMenu   *bool         `json:"skip_menu,omitempty"`   // boot the default at once
	// SecureBoot: the machine boots UEFI with Secure Boot on, so its
	// PXE firmware gets the distribution's signed shim and GRUB (with a
	// grub.cfg of its menu) instead of iPXE, which it would refuse.
	SecureBoot *bool `json:"secure_boot,omitempty"`
}

// BootSummary is one finished boot, as kept in the store.
type BootSummary struct {
	Started    time.Time          `json:"started"`
	DurationMS float64            `json:"duration_ms"`
	Result     string             `json:"result"`           // booted kernel, OS up, OS silent, abandoned
	Stage      string             `json:"stage"`            // the furthest stage reached
	Item       string             `json:"item,omitempty"`   // the menu's default item
	Kernel     string             `json:"kernel,omitempty"` // the path of the kernel fetched
	Bytes      int64              `json:"bytes"`
	IP         string             `json:"ip,omitempty"`
	Stages     map[string]float64 `json:"stages_ms,omitempty"` // duration of each stage
	Slowest    string             `json:"slowest,omitempty"`
	UpAfterMS  float64            `json:"up_after_ms,omitempty"` // power-on (or first event) to OS up
}

// ErrNotFound is returned for a MAC the registry does not hold.
var ErrNotFound = errors.New("no such machine")

// CanonicalMAC parses s ("52:54:00:12:34:56", "52-54-00-12-34-56",
// "5254.0012.3456") into the form keys use.
func CanonicalMAC(s string) (string, error) {
	hw, err := net.ParseMAC(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("%q is not a MAC address (write it like 52:54:00:12:34:56)", s)
	}
	return hw.String(), nil
}

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$`)
	labelValRE = regexp.MustCompile(`^[A-Za-z0-9._-]{0,63}$`)
	itemRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	bootArgRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_\-.]*$`)
	shadowRE   = regexp.MustCompile(`^\$(1|5|6)\$(rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]+$`)
)

// ValidName checks a machine name: a host-name-like word.
func ValidName(s string) error {
	if s != "" && !nameRE.MatchString(s) {
		return fmt.Errorf("name %q: use letters, digits, '.', '_' and '-' (at most 63)", s)
	}
	return nil
}

// ValidLabel checks one label.
func ValidLabel(k, v string) error {
	if !labelKeyRE.MatchString(k) {
		return fmt.Errorf("label key %q: use letters, digits, '.', '_', '/' and '-'", k)
	}
	if !labelValRE.MatchString(v) {
		return fmt.Errorf("label %s=%q: values use letters, digits, '.', '_' and '-' (at most 63)", k, v)
	}
	return nil
}

// ValidItem checks the shape of a menu item id (whether the menu offers it
// is for the menu to say).
func ValidItem(s string) error {
	if s != "" && !itemRE.MatchString(s) {
		return fmt.Errorf("menu item %q is not an item id (e.g. smartos, smartos-noimport, smartos-<build>, memtest, exit)", s)
	}
	return nil
}

// Validate checks the shape of every setting.
func (s Settings) Validate() error {
	if err := ValidItem(s.Default); err != nil {
		return fmt.Errorf("default: %w", err)
	}
	seen := map[string]bool{}
	for _, kv := range s.BootArgs {
		if !bootArgRE.MatchString(kv.Key) {
			return fmt.Errorf("boot_args: %q is not a -B property name", kv.Key)
		}
		if seen[kv.Key] {
			return fmt.Errorf("boot_args: %q is given twice", kv.Key)
		}
		seen[kv.Key] = true
	}
	if s.RootShadow != "" && !shadowRE.MatchString(s.RootShadow) {
		return fmt.Errorf("root_shadow: %q is not a crypt(3) hash like $5$salt$hash (or give a root password)", s.RootShadow)
	}
	return nil
}

// Validate checks the whole machine.
func (m Machine) Validate() error {
	if _, err := CanonicalMAC(m.MAC); err != nil {
		return err
	}
	if err := ValidName(m.Name); err != nil {
		return err
	}
	for k, v := range m.Labels {
		if err := ValidLabel(k, v); err != nil {
			return err
		}
	}
	if err := ValidItem(m.BootOnce); err != nil {
		return fmt.Errorf("boot_once: %w", err)
	}
	return m.Settings.Validate()
}

func decode(b []byte) (Machine, error) {
	var m Machine
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("machine record: %w", err)
	}
	return m, nil
}
