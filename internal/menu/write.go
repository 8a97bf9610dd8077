package menu

import (
	"strings"
	"time"

	"rackboot/internal/ipxe"
	"rackboot/internal/pxe"
)

// failPause is how long a failed boot's message stays before the menu
// comes back (and, unless a key was pressed, counts down to the default).
const failPause = 10 * time.Second

// headerWidth is the width of a section header, inside iPXE's 80 columns.
const headerWidth = 64

// pickDefault resolves Options.Default for this client. Order: the
// configured item if this client is offered it; else the newest SmartOS
// build if offered; else "exit", which leaves the machine to its local disk:
// the one choice that never reinstalls, wipes or loops.
func (o Options) pickDefault(p plan, arch pxe.Arch, mac string) string {
	want := o.Default
	if want == "" && o.CatalogDefault != nil {
		if b := o.CatalogDefault(); b != "" && p.offered[SmartOSID(b)] {
			return SmartOSID(b)
		}
	}
	switch want {
	case "", IDNewestSmartOS:
		want = ""
		if p.newest != "" {
			want = SmartOSID(p.newest)
		}
	case IDNewestSmartOSNoImport:
		want = ""
		if p.newest != "" {
			want = SmartOSNoImportID(p.newest)
		}
	}
	if want != "" && p.offered[want] {
		return want
	}
	fallback := IDExit
	if p.newest != "" {
		fallback = SmartOSID(p.newest)
	}
	if o.Default != "" {
		o.log().Info("menu default not offered to this client; using another",
			"default", o.Default, "using", fallback, "mac", canonicalMAC(mac), "arch", arch.String(),
			"why", o.whyNotOffered(p))
	}
	return fallback
}

// whyNotOffered explains a missing default item in the log.
func (o Options) whyNotOffered(p plan) string {
	if t := o.target(o.Default); t != nil {
		if err := t.Offered(p.client); err != nil {
			return err.Error()
		}
	}
	switch {
	case o.Default == IDMemtest:
		return "no memtest86+ for this firmware"
	case strings.HasPrefix(o.Default, "smartos") && p.noBoot:
		return "SmartOS needs BIOS boot, or a UEFI x86_64 iPXE with multiboot2"
	case strings.HasPrefix(o.Default, "smartos"):
		return "the build is not on disk (removed, or never imported)"
	}
	return "not in this menu"
}

// write turns the plan into the script.
func (o Options) write(p plan, def string, arch pxe.Arch, mac string) *ipxe.Script {
	title := o.Title
	if title == "" {
		title = "rackboot"
	}
	client := arch.String()
	if arch.Firmware == pxe.UEFI && !p.noBoot {
		client += ", multiboot2" // SmartOS's multiboot kernel on UEFI
	}
	s := ipxe.New(
		ipxe.Comment("rackboot menu for "+canonicalMAC(mac)+" ("+client+"). Generated for each request:\n"+
			"change the rackboot configuration or the platforms, not this script."),
		ipxe.Blank{},
		ipxe.Comment(timeoutSetting+" is in ms (0 waits forever). A value set before, by the shell\n"+
			"item or by hand, is kept."),
		ipxe.Set{Name: timeoutSetting, Value: millis(o.timeoutMillis()), IfUnset: true},
		ipxe.Blank{},
	)
	if len(p.prelude) > 0 {
		s.Add(p.prelude...)
		s.Add(ipxe.Blank{})
	}
	s.Add(
		ipxe.Label("start"),
		ipxe.Menu{Title: title},
	)
	for _, sec := range p.sections {
		s.Add(ipxe.Gap{Text: header(sec.header)})
		for _, n := range sec.notes {
			s.Add(ipxe.Gap{Text: n})
		}
		for _, e := range sec.entries {
			s.Add(ipxe.Item{Label: e.id, Text: e.text, Key: e.key})
		}
	}
	s.Add(
		// Esc makes choose fail: whoever pressed it wants the shell, not a boot.
		ipxe.Choose{Setting: "target", Default: def, TimeoutSetting: timeoutSetting, OnCancel: IDShell},
		ipxe.Goto("${target}"),
	)
	for _, sec := range p.sections {
		for _, e := range sec.entries {
			s.Add(ipxe.Blank{}, ipxe.Label(e.id))
			s.Add(e.body...)
		}
	}
	s.Add(ipxe.Blank{}, ipxe.Label("failed"),
		ipxe.Echo("That did not work: see the messages above. Files come from "+o.BaseURL),
		ipxe.Prompt(failPause, "Back to the menu in "+failPause.String()+"; press a key to also stop its countdown.").OrGoto("start"),
		ipxe.Set{Name: timeoutSetting, Value: "0"},
		ipxe.Goto("start"),
	)
	return s
}

// header centres text in a line of dashes.
func header(text string) string {
	text = " " + text + " "
	pad := headerWidth - len(text)
	if pad < 8 {
		pad = 8
	}
	return strings.Repeat("-", pad/2) + text + strings.Repeat("-", pad-pad/2)
}
