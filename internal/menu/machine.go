package menu

import (
	"strings"

	"rackboot/internal/bootargs"
)

// Machine is what one machine's registry entry (its own settings and the
// rules that match it) changes in its menu. The zero value changes nothing.
type Machine struct {
	Name       string        // shown after the menu title
	Default    string        // item id (see ItemID); "" keeps Options.Default
	BootArgs   []bootargs.KV // merged over Options.BootArgs by key: a machine's value wins
	RootShadow string        // "" keeps Options.RootShadow
	SkipMenu   bool          // boot the default at once (the menu only flashes)
}

// ForMachine returns o with m's choices applied.
func (o Options) ForMachine(m Machine) Options {
	if m.Name != "" {
		title := o.Title
		if title == "" {
			title = "rackboot"
		}
		o.Title = title + " - " + m.Name
	}
	if m.Default != "" {
		o.Default = m.Default
	}
	if m.RootShadow != "" {
		o.RootShadow = m.RootShadow
	}
	if m.SkipMenu {
		o.Timeout = 0
	}
	if len(m.BootArgs) > 0 {
		o.BootArgs = bootargs.Merge(o.BootArgs, m.BootArgs)
	}
	return o
}

// ItemID turns what an operator writes for a machine's default or
// boot-once into a menu item id. A platform build ("20250214T000000Z")
// means its item, "smartos-20250214T000000Z"; "noimport" means the noimport
// form of base (the machine's default otherwise): of its build if it names
// one, else of the newest build. Anything else is already an item id.
func ItemID(s, base string) string {
	switch {
	case s == "":
		return ""
	case s == "noimport":
		base = ItemID(base, "")
		if b, ok := strings.CutPrefix(base, "smartos-"); ok && b != "noimport" {
			return SmartOSNoImportID(strings.TrimSuffix(b, "-noimport"))
		}
		return IDNewestSmartOSNoImport
	case s[0] >= '0' && s[0] <= '9':
		return SmartOSID(s) // build names start with their date; item ids never do
	}
	return s
}
