package machines

import (
	"fmt"
	"strings"

	"rackboot/internal/bootargs"
)

// Rule gives a group of machines default settings. A rule matches a machine
// when the machine's MAC starts with MACPrefix (if set) and it carries every
// label in Labels (if any); a rule with neither matches every machine.
type Rule struct {
	Name      string            `json:"name"`
	MACPrefix string            `json:"mac_prefix,omitempty"` // "52:54:00" or "52:54:00:1"
	Labels    map[string]string `json:"labels,omitempty"`
	Settings
}

// Validate checks the rule's shape.
func (r Rule) Validate() error {
	if r.Name == "" {
		return fmt.Errorf("a rule needs a name")
	}
	if p := r.MACPrefix; p != "" {
		if len(p) > 17 || strings.Trim(strings.ToLower(p), "0123456789abcdef:") != "" {
			return fmt.Errorf("rule %s: mac_prefix %q: write the start of a MAC address like 52:54:00", r.Name, p)
		}
	}
	for k, v := range r.Labels {
		if err := ValidLabel(k, v); err != nil {
			return fmt.Errorf("rule %s: %w", r.Name, err)
		}
	}
	if err := r.Settings.Validate(); err != nil {
		return fmt.Errorf("rule %s: %w", r.Name, err)
	}
	return nil
}

// Matches reports whether the rule applies to m.
func (r Rule) Matches(m Machine) bool {
	if r.MACPrefix != "" && !strings.HasPrefix(m.MAC, strings.ToLower(r.MACPrefix)) {
		return false
	}
	for k, v := range r.Labels {
		if got, ok := m.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Effective is what decides a machine's menu: the settings that apply to
// it, and where each came from.
type Effective struct {
	Settings
	BootOnce string   `json:"boot_once,omitempty"`
	Rules    []string `json:"rules,omitempty"` // names of the rules that matched, in order
}

// Resolve merges, in order, every rule that matches m and then m's own
// settings: a later non-empty setting wins, and -B pairs merge by key (a
// later value replaces an earlier one in its place).
func Resolve(m Machine, rules []Rule) Effective {
	var e Effective
	for _, r := range rules {
		if r.Matches(m) {
			e.Rules = append(e.Rules, r.Name)
			e.Settings = merge(e.Settings, r.Settings)
		}
	}
	e.Settings = merge(e.Settings, m.Settings)
	e.BootOnce = m.BootOnce
	return e
}

func merge(base, over Settings) Settings {
	if over.Default != "" {
		base.Default = over.Default
	}
	if over.RootShadow != "" {
		base.RootShadow = over.RootShadow
	}
	if over.SkipMenu != nil {
		v := *over.SkipMenu
		base.SkipMenu = &v
	}
	if over.SecureBoot != nil {
		v := *over.SecureBoot
		base.SecureBoot = &v
	}
	base.BootArgs = bootargs.Merge(base.BootArgs, over.BootArgs)
	return base
}
