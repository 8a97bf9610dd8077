package machines

import (
	"encoding/json"
	"slices"

	"rackboot/internal/bootargs"
)

// Opt is a field of a Patch: absent (leave it), null (clear it, back to the
// rules' or the configuration's choice), or a value.
type Opt[T any] struct {
	Set  bool // present in the patch
	Null bool // present as null
	V    T
}

// Value returns an Opt holding v.
func Value[T any](v T) Opt[T] { return Opt[T]{Set: true, V: v} }

// Null returns an Opt that clears the field.
func Null[T any]() Opt[T] { return Opt[T]{Set: true, Null: true} }

// UnmarshalJSON is called for null too (encoding/json does so for
// Unmarshalers), which is how null is told from absent.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.V)
}

// MarshalJSON writes null or the value; an absent Opt is left out by the
// omitzero tag.
func (o Opt[T]) MarshalJSON() ([]byte, error) {
	if o.Null {
		return []byte("null"), nil
	}
	return json.Marshal(o.V)
}

// Patch changes the operator's settings of a machine. Every field is
// optional; null clears a setting.
type Patch struct {
	Name     Opt[string]        `json:"name,omitzero"`
	Labels   map[string]*string `json:"labels,omitempty"` // a null value removes the label
	Default  Opt[string]        `json:"default,omitzero"`
	BootOnce Opt[string]        `json:"boot_once,omitzero"`
	// BootArgs merges by key into the machine's pairs; null removes them all.
	BootArgs       Opt[[]bootargs.KV] `json:"boot_args,omitzero"`
	RemoveBootArgs []string           `json:"remove_boot_args,omitempty"`
	RootShadow     Opt[string]        `json:"root_shadow,omitzero"`
	// RootPassword is hashed by the server into RootShadow.
	RootPassword string    `json:"root_password,omitempty"`
	SkipMenu     Opt[bool] `json:"skip_menu,omitzero"`
	SecureBoot   Opt[bool] `json:"secure_boot,omitzero"`
}

// Apply changes m as p says. It does not validate: call m.Validate after.
func (p Patch) Apply(m *Machine) {
	str := func(o Opt[string], dst *string) {
		if o.Set {
			*dst = o.V // null leaves V empty
		}
	}
	str(p.Name, &m.Name)
	str(p.Default, &m.Default)
	str(p.BootOnce, &m.BootOnce)
	str(p.RootShadow, &m.RootShadow)
	for k, v := range p.Labels {
		if v == nil {
			delete(m.Labels, k)
			continue
		}
		if m.Labels == nil {
			m.Labels = map[string]string{}
		}
		m.Labels[k] = *v
	}
	if len(m.Labels) == 0 {
		m.Labels = nil
	}
	switch {
	case p.BootArgs.Null:
		m.BootArgs = nil
	case p.BootArgs.Set:
		m.BootArgs = bootargs.Merge(m.BootArgs, p.BootArgs.V)
	}
	if len(p.RemoveBootArgs) > 0 {
		m.BootArgs = slices.DeleteFunc(m.BootArgs, func(kv bootargs.KV) bool { return slices.Contains(p.RemoveBootArgs, kv.Key) })
	}
	switch {
	case p.SkipMenu.Null:
		m.SkipMenu = nil
	case p.SkipMenu.Set:
		v := p.SkipMenu.V
		m.SkipMenu = &v
	}
	switch {
	case p.SecureBoot.Null:
		m.SecureBoot = nil
	case p.SecureBoot.Set:
		v := p.SecureBoot.V
		m.SecureBoot = &v
	}
}
