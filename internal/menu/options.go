package menu

import (
	"fmt"
	"path"
	"strings"

	"rackboot/internal/ipxe"
	"rackboot/internal/smartos"
)

// The SmartOS options menu, in the style of MNX's own netboot menu
// (smartos-netboot-server): one main-menu item leads to a menu whose items
// show the current choices (platform, console, rescue mode, kernel
// debugger); choosing one changes it in an iPXE setting and shows the menu
// again; "Boot" boots with them. iseq switches and goto loops do the work,
// so the script does not grow with the number of combinations.
//
// Its labels do not start with "smartos-", so no build name can clash.
const (
	IDOptions     = "options" // the main-menu item
	labelOptMenu  = "options-menu"
	labelPlatform = "opt-platform"
	labelConsole  = "opt-console"
	labelNoImport = "opt-noimport"
	labelKMDB     = "opt-kmdb"
	labelOptBoot  = "opt-boot"
	labelOptGo    = "opt-boot-go"
)

// Settings the options menu keeps its choices in.
const (
	setBuild    = "smartos-build"
	setHash     = "smartos-hash" // "true" when the build has boot_archive.hash
	setConsole  = "smartos-console"
	setNoImport = "smartos-noimport"
	setKMDB     = "smartos-kmdb"   // off, load, boot
	setKFlags   = "smartos-kflags" // -k, -kd, or unset
	setChoice   = "smartos-opt"    // the item chosen last
)

// OptionsKey is the main menu's shortcut key for the options menu; the
// options menu's own keys are the first letters of its items' topics.
const OptionsKey = "o"

func expand(setting string) string { return "${" + setting + "}" }

// optionsPlan is what the options menu offers one client.
type optionsPlan struct {
	platforms []smartos.Platform // offered builds, newest first
	build     string             // the one it starts with: the menu's default build
	noimport  bool               // starts in rescue mode (the default item is a noimport one)
}

// optionsEntry is the main-menu item and everything below its label.
func (o Options) optionsEntry(op optionsPlan) (entry, error) {
	body := []ipxe.Stmt{
		ipxe.Set{Name: timeoutSetting, Value: "0"}, // someone is here: no countdown back in the main menu
		ipxe.Set{Name: setChoice, Value: labelOptBoot},
		ipxe.Label(labelOptMenu),
		ipxe.Menu{Title: "SmartOS options"},
		ipxe.Gap{Text: "Change what the next boot uses; Esc goes back. A letter picks its item."},
		ipxe.Gap{},
		ipxe.Item{Label: labelPlatform, Key: "p", Text: "Platform: " + expand(setBuild)},
		ipxe.Item{Label: labelConsole, Key: "c", Text: "Console: " + expand(setConsole) + " (text, ttya, ttyb, ttyc, ttyd, vga)"},
		ipxe.Item{Label: labelNoImport, Key: "r", Text: "Rescue mode (noimport: zpool not imported): " + expand(setNoImport)},
		ipxe.Item{Label: labelKMDB, Key: "k", Text: "Kernel debugger: " + expand(setKMDB) + " (load: -k, boot: -kd stops in kmdb)"},
		ipxe.IfEq{A: expand(setNoImport), B: "true", Then: []ipxe.Stmt{ipxe.Gap{Text: o.rescueHint()}}},
		ipxe.Gap{},
		ipxe.Item{Label: labelOptBoot, Key: "b", Text: "Boot SmartOS " + expand(setBuild) + " with these options"},
		ipxe.Item{Label: "start", Key: "m", Text: "Back to the main menu"},
		ipxe.Choose{Setting: setChoice, Default: expand(setChoice), OnCancel: "start"},
		ipxe.Goto(expand(setChoice)),
	}
	body = append(body, o.cycles(op)...)
	boot, err := o.optionsBoot(op)
	if err != nil {
		return entry{}, err
	}
	body = append(body, boot...)
	return entry{id: IDOptions, key: OptionsKey,
		text: "SmartOS options: platform, console, rescue mode, kernel debugger", body: body}, nil
}

// optionsStart sets the options menu's starting values; it runs when the
// script starts, so every fresh menu begins from the configuration.
func (o Options) optionsStart(op optionsPlan) []ipxe.Stmt {
	hash := "false"
	for _, p := range op.platforms {
		if p.Build == op.build && p.HasHash {
			hash = "true"
		}
	}
	return []ipxe.Stmt{
		ipxe.Comment("Where the SmartOS options menu starts: the default build and the configuration."),
		ipxe.Set{Name: setBuild, Value: op.build},
		ipxe.Set{Name: setHash, Value: hash},
		ipxe.Set{Name: setConsole, Value: o.console()},
		ipxe.Set{Name: setNoImport, Value: fmt.Sprint(op.noimport)},
		ipxe.Set{Name: setKMDB, Value: string(o.kernelDebugger())},
	}
}

func (o Options) rescueHint() string {
	if o.RootShadow != "" {
		return "Log in as root with the root password rackboot is configured with"
	}
	return "Log in as root; password: rackboot platform show " + expand(setBuild)
}

// cycles are the items' targets: each moves its setting to the next value
// and shows the menu again.
func (o Options) cycles(op optionsPlan) []ipxe.Stmt {
	back := ipxe.Goto(labelOptMenu)
	var out []ipxe.Stmt
	// Platform: newest to oldest, then round again.
	out = append(out, ipxe.Blank{}, ipxe.Label(labelPlatform))
	for i, p := range op.platforms {
		next := op.platforms[(i+1)%len(op.platforms)]
		out = append(out, ipxe.IfEq{A: expand(setBuild), B: p.Build, Then: []ipxe.Stmt{
			ipxe.Set{Name: setBuild, Value: next.Build}, ipxe.Set{Name: setHash, Value: fmt.Sprint(next.HasHash)}, back}})
	}
	first := op.platforms[0]
	out = append(out, ipxe.Set{Name: setBuild, Value: first.Build}, ipxe.Set{Name: setHash, Value: fmt.Sprint(first.HasHash)}, back)
	out = append(out, ipxe.Blank{}, ipxe.Label(labelConsole))
	out = append(out, cycle(setConsole, smartos.Consoles, back)...)
	out = append(out, ipxe.Blank{}, ipxe.Label(labelNoImport))
	out = append(out, cycle(setNoImport, []string{"false", "true"}, back)...)
	out = append(out, ipxe.Blank{}, ipxe.Label(labelKMDB))
	var kmdb []string
	for _, d := range smartos.KernelDebuggers {
		kmdb = append(kmdb, string(d))
	}
	return append(out, cycle(setKMDB, kmdb, back)...)
}

// cycle moves setting to the value after its current one; an unknown
// value starts again at the first.
func cycle(setting string, values []string, then ipxe.Stmt) []ipxe.Stmt {
	var out []ipxe.Stmt
	for i, v := range values {
		out = append(out, ipxe.IfEq{A: expand(setting), B: v, Then: []ipxe.Stmt{
			ipxe.Set{Name: setting, Value: values[(i+1)%len(values)]}, then}})
	}
	return append(out, ipxe.Set{Name: setting, Value: values[0]}, then)
}

// optionsBoot boots the chosen build with the chosen options.
func (o Options) optionsBoot(op optionsPlan) ([]ipxe.Stmt, error) {
	dir := path.Join(smartos.PlatformsSubdir, expand(setBuild))
	args := o.bootArgs(true)
	args.Console = expand(setConsole)
	props := args.Props()
	for i := range props {
		if props[i].Key == "noimport" {
			props[i].Value = expand(setNoImport) // noimport=false is what MNX's menu passes too
		}
	}
	kernel := ipxe.Kernel(o.url(path.Join(dir, smartos.KernelFile)),
		kernelArgs(expand(setKFlags), smartos.JoinProps(props))...).OrGoto("failed")
	archive := ipxe.Module(o.url(path.Join(dir, smartos.ArchiveFile)), "type=rootfs", "name=ramdisk").OrGoto("failed")
	hash := ipxe.Module(o.url(path.Join(dir, smartos.HashFile)), "type=hash", "name=ramdisk").OrGoto("failed")
	if err := o.checkOptionsLength(op, kernel, archive, hash); err != nil {
		return nil, err
	}
	return []ipxe.Stmt{
		ipxe.Blank{}, ipxe.Label(labelOptBoot),
		ipxe.Echo("Booting SmartOS " + expand(setBuild) + ": console " + expand(setConsole) +
			", noimport " + expand(setNoImport) + ", kernel debugger " + expand(setKMDB)),
		ipxe.Imgfree(),
		ipxe.Clear(setKFlags),
		ipxe.IfEq{A: expand(setKMDB), B: string(smartos.DebuggerLoad), Then: []ipxe.Stmt{ipxe.Set{Name: setKFlags, Value: smartos.DebuggerLoad.Flags()}}},
		ipxe.IfEq{A: expand(setKMDB), B: string(smartos.DebuggerBoot), Then: []ipxe.Stmt{ipxe.Set{Name: setKFlags, Value: smartos.DebuggerBoot.Flags()}}},
		kernel, archive,
		ipxe.IsEq(expand(setHash), "true").OrGoto(labelOptGo),
		hash,
		ipxe.Label(labelOptGo),
		ipxe.Boot().OrGoto("failed"),
	}, nil
}

// checkOptionsLength applies the multiboot limit to the options boot with
// the longest value each setting can take, for every build offered.
func (o Options) checkOptionsLength(op optionsPlan, kernel, archive, hash ipxe.Command) error {
	longestConsole := ""
	for _, c := range smartos.Consoles {
		if len(c) > len(longestConsole) {
			longestConsole = c
		}
	}
	for _, p := range op.platforms {
		r := strings.NewReplacer(expand(setBuild), p.Build, expand(setConsole), longestConsole,
			expand(setNoImport), "false", expand(setKFlags), smartos.DebuggerBoot.Flags())
		worst := func(c ipxe.Command) ipxe.Command {
			c.Args = append([]string(nil), c.Args...)
			for i := range c.Args {
				c.Args[i] = r.Replace(c.Args[i])
			}
			return c
		}
		modules := []ipxe.Command{worst(archive)}
		if p.HasHash {
			modules = append(modules, worst(hash))
		}
		if n := ipxe.MultibootCmdlineLen(worst(kernel), modules...); n > ipxe.MultibootCmdlineMax {
			return fmt.Errorf("SmartOS options menu, %s: the kernel and module lines can need %d bytes, but iPXE passes at most %d to a multiboot kernel and cuts the rest off silently: use a shorter base URL (%s) or fewer boot arguments",
				p.Build, n, ipxe.MultibootCmdlineMax, o.BaseURL)
		}
	}
	return nil
}
