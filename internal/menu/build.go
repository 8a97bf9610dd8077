package menu

import (
	"fmt"
	"strconv"
	"strings"

	"rackboot/internal/ipxe"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
	"rackboot/internal/target"
)

// entry is one menu item and the statements under its label.
type entry struct {
	id, text string
	key      string // shortcut key, "" for none
	body     []ipxe.Stmt
}

// section is a titled group of menu lines.
type section struct {
	header  string
	notes   []string // gap lines: explanations, not choices
	entries []entry
}

// plan is the menu for one client before it is written out.
type plan struct {
	sections []section
	offered  map[string]bool
	noBoot   bool               // this client's iPXE cannot start SmartOS's multiboot kernel
	newest   string             // build of the first SmartOS section, "" if none
	builds   []smartos.Platform // the SmartOS builds offered, newest first
	prelude  []ipxe.Stmt        // runs once when the script starts
	client   target.Client      // who the menu is for
}

// Build returns the menu script for one client. arch and the features its
// iPXE advertised decide what can boot (SmartOS's multiboot kernel needs
// iPXE's BIOS build, or a UEFI x86_64 build with multiboot2: see
// CanMultiboot); mac is only written in the script's header. The script
// passes ipxe.Lint with no problems.
func Build(o Options, platforms []smartos.Platform, arch pxe.Arch, features pxe.Features, mac string) (*ipxe.Script, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	p, err := o.plan(platforms, arch, features)
	if err != nil {
		return nil, err
	}
	def := o.pickDefault(p, arch, mac)
	if err := o.addOptions(&p, def); err != nil {
		return nil, err
	}
	s := o.write(p, def, arch, mac)
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("menu for %s: %w", canonicalMAC(mac), err)
	}
	return s, nil
}

// CanMultiboot reports whether an iPXE of this arch with these features can
// start SmartOS's multiboot kernel (target.CanMultiboot).
func CanMultiboot(arch pxe.Arch, features pxe.Features) bool {
	return target.CanMultiboot(arch, features)
}

// plan decides which items this client gets.
func (o Options) plan(platforms []smartos.Platform, arch pxe.Arch, features pxe.Features) (plan, error) {
	p := plan{offered: map[string]bool{}, noBoot: !CanMultiboot(arch, features), client: target.Client{Arch: arch, Features: features}}
	switch {
	case len(platforms) == 0:
		p.sections = append(p.sections, section{header: "SmartOS", notes: []string{o.noPlatformHint()}})
	case p.noBoot && arch == pxe.ArchEFIx8664:
		p.sections = append(p.sections, section{header: "SmartOS", notes: []string{
			"SmartOS needs BIOS boot (CSM), or a UEFI iPXE with multiboot2",
			"(this " + arch.String() + " iPXE did not advertise multiboot2: see README)",
		}})
	case p.noBoot:
		p.sections = append(p.sections, section{header: "SmartOS", notes: []string{
			"SmartOS needs BIOS boot (CSM) with this iPXE",
			"(" + arch.String() + " iPXE cannot start multiboot kernels)",
		}})
	default:
		for _, pl := range platforms {
			sec, err := o.smartosSection(pl, p.offered)
			if err != nil {
				return plan{}, err
			}
			if sec == nil {
				continue
			}
			if p.newest == "" {
				p.newest = pl.Build
			}
			p.builds = append(p.builds, pl)
			p.sections = append(p.sections, *sec)
		}
	}
	if sec := o.targetSection(p.client); sec != nil {
		p.sections = append(p.sections, *sec)
	}
	p.sections = append(p.sections, o.utilities(arch))
	for _, sec := range p.sections {
		for _, e := range sec.entries {
			p.offered[e.id] = true
		}
	}
	return p, nil
}

func (o Options) noPlatformHint() string {
	dir := "the data directory's smartos/"
	if o.DataDir != "" {
		dir = strings.TrimRight(o.DataDir, "/") + "/" + smartos.PlatformsSubdir
	}
	return "No SmartOS platform in " + dir + ": run 'rackboot platform import'"
}

// smartosSection is one build's header and its two items, or nil when the
// build cannot be listed (its name is unsafe, or its ids are taken).
func (o Options) smartosSection(pl smartos.Platform, taken map[string]bool) (*section, error) {
	id, noimp := SmartOSID(pl.Build), SmartOSNoImportID(pl.Build)
	if !safeID.MatchString(pl.Build) || taken[id] || taken[noimp] {
		o.log().Warn("SmartOS build left out of the menu: its name is unsafe or clashes with another build's item ids", "build", pl.Build)
		return nil, nil
	}
	taken[id], taken[noimp] = true, true
	sec := &section{header: "SmartOS " + pl.Build}
	for _, ni := range []bool{false, true} {
		t := &target.SmartOS{Platform: pl, NoImport: ni, Args: kernelArgs(o.kernelDebugger().Flags(), o.bootArgs(ni).String())}
		if err := t.CheckLength(o.loader()); err != nil {
			return nil, err
		}
		sec.entries = append(sec.entries, entry{id: t.ID(), text: t.Title(), body: t.IPXE(o.loader(), target.Client{})})
	}
	return sec, nil
}

// targetSection lists the configuration's targets: an item for each one
// this client can boot, a line saying why for each one it cannot. nil
// when there are none.
func (o Options) targetSection(c target.Client) *section {
	if len(o.Targets) == 0 {
		return nil
	}
	sec := &section{header: "Boot targets"}
	for _, t := range o.Targets {
		if err := t.Offered(c); err != nil {
			sec.notes = append(sec.notes, t.Title()+": "+err.Error())
			continue
		}
		sec.entries = append(sec.entries, entry{id: t.ID(), text: t.Title(), body: t.IPXE(o.loader(), c)})
	}
	return sec
}

// addOptions puts the SmartOS options item after the builds, starting
// from the build the menu boots by default.
func (o Options) addOptions(p *plan, def string) error {
	if len(p.builds) == 0 {
		return nil
	}
	op := optionsPlan{platforms: p.builds, build: p.newest}
	for _, pl := range p.builds {
		switch def {
		case SmartOSID(pl.Build):
			op.build = pl.Build
		case SmartOSNoImportID(pl.Build):
			op.build, op.noimport = pl.Build, true
		}
	}
	e, err := o.optionsEntry(op)
	if err != nil {
		return err
	}
	// Before the utilities, the last section.
	last := len(p.sections) - 1
	p.sections = append(p.sections[:last], section{header: "Options", entries: []entry{e}}, p.sections[last])
	p.offered[e.id] = true
	p.prelude = o.optionsStart(op)
	return nil
}

// utilities is the last section: memtest when there is one for this
// firmware and processor, the shell, reboot, exit, and reload.
func (o Options) utilities(arch pxe.Arch) section {
	sec := section{header: "Utilities"}
	c := target.Client{Arch: arch}
	if mt := target.BuiltinMemtest(o.Memtest); mt.Offered(c) == nil {
		sec.entries = append(sec.entries, entry{id: mt.ID(), text: mt.Title(), body: mt.IPXE(o.loader(), c)})
	}
	sec.entries = append(sec.entries,
		entry{id: IDShell, text: "iPXE shell", body: []ipxe.Stmt{
			ipxe.Echo("Type 'exit' to get back to the menu."),
			ipxe.Shell(),
			ipxe.Set{Name: timeoutSetting, Value: "0"}, // someone is here: no countdown
			ipxe.Goto("start"),
		}},
		entry{id: IDReboot, text: "Reboot", body: []ipxe.Stmt{ipxe.Reboot().OrGoto("failed")}},
		entry{id: IDExit, text: "Exit (boot local disk)", body: []ipxe.Stmt{
			// Leaving iPXE hands the machine back to the firmware's boot order.
			ipxe.Echo("Leaving iPXE: the firmware boots the next device"),
			ipxe.Exit(),
		}},
	)
	if o.MenuURL != "" {
		sec.entries = append(sec.entries, entry{id: IDReload, text: "Reload this menu", body: []ipxe.Stmt{
			ipxe.Set{Name: timeoutSetting, Value: "0"},
			ipxe.Command{Name: "chain", Args: []string{"--replace", "--autofree", o.MenuURL}, OnFail: "failed"},
		}})
	}
	return sec
}

// millis formats a menu-timeout value.
func millis(ms int64) string { return strconv.FormatInt(ms, 10) }
