package ipxe

import (
	"strings"
)

// MultibootCmdlineLen returns how many bytes of iPXE's multiboot command-line
// area a kernel and its modules use: for each image, its URL, a space and
// its arguments if it has any, and a NUL (multiboot_add_cmdline in
// src/arch/x86/image/multiboot.c). Compare with MultibootCmdlineMax.
func MultibootCmdlineLen(kernel Command, modules ...Command) int {
	n := imageCmdlineLen(kernel.Args)
	for _, m := range modules {
		n += imageCmdlineLen(m.Args)
	}
	return n
}

// imageCmdlineLen sizes one image's string from its arguments (URL first).
func imageCmdlineLen(args []string) int {
	if len(args) == 0 {
		return 0
	}
	return len(strings.Join(args, " ")) + 1
}

// mbGroup is a kernel command and the modules fetched after it.
type mbGroup struct {
	line    int
	images  [][]string // the URL and arguments of each image
	modules int
}

// checkMultiboot sums, for every kernel followed by modules, the strings
// iPXE hands to a multiboot kernel. It only judges groups whose words it can
// resolve: literal text and settings given one literal value in the script.
// Modules mark a group as multiboot; a Linux kernel has initrds instead and
// its own, larger limit.
func (l *linter) checkMultiboot() {
	var g *mbGroup
	flush := func() {
		if g != nil && g.modules > 0 {
			l.judgeMultiboot(g)
		}
		g = nil
	}
	for _, ll := range l.p.lines {
		if ll.hasLabel {
			flush()
		}
		for _, c := range ll.cmds {
			switch c.words[0] {
			case "kernel", "imgselect", "imgload":
				flush()
				_, pos := c.options()
				g = &mbGroup{line: c.line, images: [][]string{pos}}
			case "module", "imgfetch":
				if g != nil {
					_, pos := c.options()
					g.images = append(g.images, pos)
					g.modules++
				}
			case "boot", "imgexec", "imgfree", "chain":
				flush()
			}
		}
	}
	flush()
}

func (l *linter) judgeMultiboot(g *mbGroup) {
	total := 0
	for _, img := range g.images {
		if len(img) == 0 {
			continue
		}
		var words []string
		for _, w := range img {
			v, ok := l.resolve(w)
			if !ok {
				return // depends on the machine: cannot judge
			}
			words = append(words, v)
		}
		if !strings.Contains(words[0], "://") {
			return // relative to the script's URL, unknown here
		}
		total += imageCmdlineLen(words)
	}
	if total > MultibootCmdlineMax {
		l.add(g.line, RuleMultiboot, "this kernel and its %d modules need %d bytes of command lines (URLs and arguments); iPXE has room for %d and silently cuts the rest off: shorten the base URL or the boot arguments", g.modules, total, MultibootCmdlineMax)
	}
}

// resolve expands w with the literal values the script sets. A setting
// given several values (a menu option cycling through consoles) is
// expanded to its longest one: the check is for the worst case the menu
// can produce. A setting whose value is only known at boot time (chosen,
// read, or never set here) cannot be resolved.
func (l *linter) resolve(w string) (string, bool) {
	for i := 0; i < 16 && strings.Contains(w, "${"); i++ {
		names := expansions(w)
		if len(names) == 0 {
			break
		}
		vals := l.values[baseSettingName(names[0])]
		if len(vals) == 0 {
			return "", false
		}
		longest := ""
		for _, v := range vals {
			if v == unknownValue {
				return "", false
			}
			if len(v) > len(longest) {
				longest = v
			}
		}
		w = strings.Replace(w, "${"+names[0]+"}", longest, 1)
	}
	return w, !strings.Contains(w, "${")
}
