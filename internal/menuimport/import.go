// Package menuimport turns a hand-written iPXE menu (the bootstrap.ipxe of
// a dnsmasq + tftpd + nginx setup) into rackboot's configuration: menu
// settings, SmartOS settings and boot targets. It says what it fixed (the
// script's lint problems, which rackboot's generated menu does not have)
// and what it could not map, item by item; it never guesses silently.
package menuimport

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"rackboot/internal/bootargs"
	"rackboot/internal/config"
	"rackboot/internal/ipxe"
	"rackboot/internal/target"
)

// Config is the part of rackboot's configuration an import writes; its keys
// are config.Config's.
type Config struct {
	Menu    Menu          `yaml:"menu"`
	SmartOS *SmartOS      `yaml:"smartos,omitempty"`
	Targets []target.Spec `yaml:"targets,omitempty"`
}

// Menu is config.Menu with empty values left out.
type Menu struct {
	Title   string           `yaml:"title,omitempty"`
	Timeout *config.Duration `yaml:"timeout,omitempty"`
	Default string           `yaml:"default,omitempty"`
}

// SmartOS is the part of config.SmartOS a menu's kernel lines say.
type SmartOS struct {
	Console    string          `yaml:"console,omitempty"`
	RootShadow string          `yaml:"root_shadow,omitempty"`
	BootArgs   config.BootArgs `yaml:"boot_args,omitempty"`
}

// Result is an import: the configuration, and what the import did.
type Result struct {
	Config Config
	// Items says, per item of the script, what it became.
	Items []string
	// Fixed are the script's lint problems, each with how rackboot's
	// menu does not have it.
	Fixed []string
	// Unmapped is what has no place in rackboot's configuration, or
	// needs the operator (a file to copy, a value to choose).
	Unmapped []string
}

// Import reads script (named name in messages).
func Import(name string, script []byte) Result {
	m := ipxe.ReadMenu(script)
	r := Result{}
	im := importer{r: &r, name: name, ids: map[string]string{}}
	for _, it := range m.Items {
		im.item(it)
	}
	im.menu(m)
	for _, p := range ipxe.Lint(script) {
		r.Fixed = append(r.Fixed, fmt.Sprintf("%s:%d: %s: %s\n    fixed: %s", name, p.Line, p.Rule, p.Message, fixFor(p.Rule)))
	}
	if im.smartos != nil {
		r.Config.SmartOS = im.smartos
	}
	return r
}

type importer struct {
	r       *Result
	name    string
	ids     map[string]string // item label -> rackboot item id
	smartos *SmartOS
	shadows []string // root_shadow per SmartOS item, in order: "label=value"
}

// smartosKernel is a SmartOS platform's kernel in a URL.
var smartosKernel = regexp.MustCompile(`(?:^|/)smartos/([0-9]{8}T[0-9]{6}Z)/platform/i86pc/kernel/amd64/unix$`)

func (im *importer) say(it ipxe.MenuItem, format string, args ...any) {
	im.r.Items = append(im.r.Items, fmt.Sprintf("%s:%d: item %s (%s): %s", im.name, it.Line, it.Label, it.Text, fmt.Sprintf(format, args...)))
}

func (im *importer) unmapped(it ipxe.MenuItem, format string, args ...any) {
	im.r.Unmapped = append(im.r.Unmapped, fmt.Sprintf("%s:%d: item %s: %s", im.name, it.Line, it.Label, fmt.Sprintf(format, args...)))
}

// item maps one item: rackboot's own items by what they do, SmartOS
// kernels to the catalog's items, other kernels, chains and sanboots to
// targets.
func (im *importer) item(it ipxe.MenuItem) {
	how := "by its label"
	if it.ByPosition {
		how = "by position: the script has no :" + it.Label + " label"
	}
	switch it.Label {
	case "shell", "reboot", "exit":
		im.ids[it.Label] = it.Label
		im.say(it, "rackboot's own %s item", it.Label)
		return
	}
	var kernel, chain, sanboot *ipxe.Action
	var modules []ipxe.Action
	for i := range it.Body {
		a := &it.Body[i]
		switch a.Name {
		case "kernel", "imgselect", "imgload":
			kernel = a
		case "chain", "imgexec":
			chain = a
		case "sanboot":
			sanboot = a
		case "module", "initrd", "imgfetch":
			modules = append(modules, *a)
		}
	}
	switch {
	case kernel != nil && len(kernel.Positional) > 0:
		im.kernelItem(it, *kernel, modules, how)
	case chain != nil && len(chain.Positional) > 0:
		im.chainItem(it, *chain, how)
	case sanboot != nil && len(sanboot.Positional) > 0:
		im.sanbootItem(it, *sanboot, how)
	case len(it.Body) == 0:
		im.unmapped(it, "nothing to boot: no :%s label and no unlabelled block left for it", it.Label)
	default:
		im.unmapped(it, "its commands boot nothing rackboot knows (%s)", it.Body[0].Name)
	}
}

func (im *importer) kernelItem(it ipxe.MenuItem, k ipxe.Action, modules []ipxe.Action, how string) {
	u := k.Positional[0]
	args := k.Positional[1:]
	if mt := smartosKernel.FindStringSubmatch(u); mt != nil {
		im.smartosItem(it, mt[1], args, how)
		return
	}
	if strings.Contains(strings.ToLower(u), "memtest") {
		im.ids[it.Label] = "memtest"
		im.say(it, "rackboot's memtest item (memtest86+ from the memtest key), %s", how)
		im.unmapped(it, "it booted %s; rackboot boots the memtest86+ the memtest key names (Debian's /boot/memtest86+x64.bin and .efi by default): set memtest.bios to that file to keep it", u)
		return
	}
	id := targetID(it.Label)
	spec := map[string]any{"kernel": im.localPath(it, u), "cmdline": strings.Join(args, " ")}
	var initrds []string
	for _, m := range modules {
		if len(m.Positional) > 0 {
			initrds = append(initrds, im.localPath(it, m.Positional[0]))
		}
	}
	if len(initrds) > 0 {
		spec["initrd"] = initrds
	}
	im.addTarget(it, id, "linux", spec)
	im.say(it, "target %s (linux), %s", id, how)
}

func (im *importer) smartosItem(it ipxe.MenuItem, build string, args []string, how string) {
	props := ""
	for i, a := range args {
		if a == "-B" && i+1 < len(args) {
			props = args[i+1]
		}
	}
	kvs := splitBootArgs(props)
	noimport := false
	if im.smartos == nil {
		im.smartos = &SmartOS{}
	}
	for _, kv := range kvs {
		switch kv.Key {
		case "noimport":
			noimport = kv.Value == "true"
		case "smartos":
			// rackboot always sets smartos=true.
		case "console":
			if im.smartos.Console == "" {
				im.smartos.Console = kv.Value
			} else if im.smartos.Console != kv.Value {
				im.unmapped(it, "console=%s: the items disagree (rackboot has one smartos.console; kept %s); set a machine's or a rule's boot_args instead", kv.Value, im.smartos.Console)
			}
		case "root_shadow":
			v := strings.Trim(kv.Value, `'"`)
			im.shadows = append(im.shadows, it.Label+"="+v)
			if im.smartos.RootShadow == "" {
				im.smartos.RootShadow = v
			} else if im.smartos.RootShadow != v {
				im.unmapped(it, "root_shadow %s differs from %s's (rackboot has one smartos.root_shadow, kept the first); give this value to the machines that need it with a rule's or a machine's root_shadow, or set one smartos.root_password", v, firstLabel(im.shadows))
			}
		default:
			if !hasKey(im.smartos.BootArgs, kv.Key) {
				im.smartos.BootArgs = append(im.smartos.BootArgs, kv)
			}
		}
	}
	id := target.SmartOSID(build)
	if noimport {
		id = target.SmartOSNoImportID(build)
	}
	im.ids[it.Label] = id
	im.say(it, "rackboot's %s item (import the build with: rackboot platform import %s), %s", id, build, how)
}

func firstLabel(shadows []string) string {
	if len(shadows) == 0 {
		return ""
	}
	l, _, _ := strings.Cut(shadows[0], "=")
	return l
}

func hasKey(kvs []bootargs.KV, k string) bool {
	for _, kv := range kvs {
		if kv.Key == k {
			return true
		}
	}
	return false
}

func (im *importer) chainItem(it ipxe.MenuItem, c ipxe.Action, how string) {
	u := c.Positional[0]
	if strings.HasSuffix(u, ".ipxe") {
		// A script beside the menu, on the web server rackboot
		// replaces: rackboot serves it, and lints it at start.
		id := targetID(it.Label)
		im.addTarget(it, id, "ipxe", map[string]any{"file": im.localPath(it, u)})
		im.say(it, "target %s (ipxe: the script, linted at start), %s", id, how)
		return
	}
	if pu, err := url.Parse(u); err != nil || pu.Host == "" || strings.Contains(u, "${") {
		im.unmapped(it, "chain %s: not an absolute URL rackboot can chain to", u)
		return
	}
	id := targetID(it.Label)
	im.addTarget(it, id, "chain", map[string]any{"url": u})
	im.say(it, "target %s (chain), %s", id, how)
}

func (im *importer) sanbootItem(it ipxe.MenuItem, s ipxe.Action, how string) {
	u := s.Positional[0]
	id := targetID(it.Label)
	im.addTarget(it, id, "iso", map[string]any{"file": im.localPath(it, u)})
	im.say(it, "target %s (iso), %s", id, how)
}

// localPath turns a URL of the old web server into a file name below the
// data directory, and says the file must be copied there.
func (im *importer) localPath(it ipxe.MenuItem, u string) string {
	p := u
	if pu, err := url.Parse(u); err == nil && pu.Host != "" {
		p = pu.Path
	}
	p = strings.TrimLeft(path.Clean("/"+p), "/")
	if !strings.Contains(p, "/") {
		// The top of data_dir is rackboot's own state: a target's file
		// there is refused (internal/target).
		p = "files/" + p
	}
	im.unmapped(it, "copy the file %s serves to <data_dir>/%s (rackboot serves the files its targets name)", u, p)
	return p
}

func (im *importer) addTarget(it ipxe.MenuItem, id, kind string, body map[string]any) {
	var n yaml.Node
	if err := n.Encode(body); err != nil {
		panic(err) // plain maps of strings always encode
	}
	im.ids[it.Label] = id
	im.r.Config.Targets = append(im.r.Config.Targets, target.Spec{Header: target.Header{ID: id, Title: it.Text}, Kind: kind, Body: n})
}

// targetID makes an item label into a target id rackboot accepts.
func targetID(label string) string {
	id := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '-'
	}, label)
	if id == "" || id[0] < 'A' || strings.HasPrefix(id, "smartos") || id == "memtest" || id == "options" || id == "start" || id == "failed" {
		id = "t-" + id
	}
	return id
}

// menu maps the title, default and timeout.
func (im *importer) menu(m ipxe.MenuModel) {
	im.r.Config.Menu.Title = m.Title
	if m.HasTimeout {
		d := config.Duration(m.Timeout)
		if m.Timeout == 0 {
			d = config.Duration(-time.Second) // iPXE's 0 waits forever; rackboot's 0 boots at once
		}
		im.r.Config.Menu.Timeout = &d
	}
	if m.Default != "" {
		if id, ok := im.ids[m.Default]; ok {
			im.r.Config.Menu.Default = id
		} else {
			im.r.Unmapped = append(im.r.Unmapped, fmt.Sprintf("%s:%d: choose --default %s: no item of that label was mapped; rackboot boots the newest SmartOS build by default", im.name, m.ChooseLine, m.Default))
		}
	}
}

// fixFor says how rackboot's generated menu avoids a lint problem.
func fixFor(rule string) string {
	switch rule {
	case ipxe.RuleMagic:
		return "rackboot's menu starts with #!ipxe"
	case ipxe.RuleEmptySet:
		return "rackboot builds every URL from the address the machine reached it on; no setting to forget"
	case ipxe.RuleItemLabel, ipxe.RuleUnreachable:
		return "rackboot writes a label for every item (the items above, mapped as listed)"
	case ipxe.RuleGluedOperator, ipxe.RuleArgCount:
		return "rackboot's menu ends with \"choose ... target || goto shell\" and \"goto ${target}\" on lines of their own"
	case ipxe.RuleGotoTarget, ipxe.RuleDuplicateLabel:
		return "rackboot's menu has each label it jumps to exactly once (start, failed, one per item)"
	case ipxe.RuleUndefined:
		return "rackboot's menu reads only settings it sets, or iPXE's own"
	case ipxe.RuleChooseDefault:
		return "rackboot's default is always an item of the menu, else it falls back and logs why"
	case ipxe.RuleMultiboot:
		return "rackboot refuses a SmartOS item whose lines iPXE would cut, at start"
	case ipxe.RuleLineLength:
		return "rackboot's lines stay within iPXE's line editor"
	}
	return "rackboot's menu is linted in its tests"
}

// splitBootArgs splits a -B list at commas outside quotes, as illumos's
// boot property parser does.
func splitBootArgs(s string) []bootargs.KV {
	var out []bootargs.KV
	var cur strings.Builder
	quote := rune(0)
	flush := func() {
		k, v, _ := strings.Cut(cur.String(), "=")
		if k != "" {
			out = append(out, bootargs.KV{Key: k, Value: v})
		}
		cur.Reset()
	}
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '\'' || r == '"'):
			quote = r
		case quote == 0 && r == ',':
			flush()
			continue
		}
		cur.WriteRune(r)
	}
	flush()
	return out
}
