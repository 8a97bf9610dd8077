package storm

import (
	"errors"
	"fmt"
	"strings"
)

// bootPlan is what running an iPXE script unattended would load: the
// default menu item's kernel and modules, a script it chains to, or an exit
// to the next boot device.
type bootPlan struct {
	Item    string   // the label `choose` picked, if a menu was shown
	Chain   string   // chain/imgexec URL: fetch it and plan that script
	Kernel  string   // kernel URL
	Modules []string // module/initrd URLs, in order
	Exit    bool     // the script leaves iPXE (boot from local disk)
}

// maxScriptSteps bounds a script's run, so that a loop in it (goto start)
// ends in an error instead of forever.
const maxScriptSteps = 10000

// planScript runs an iPXE script the way iPXE would with nobody at the
// keyboard: `choose` takes its --default (or the first item), `goto`
// follows, `set`/`isset`/`iseq` work on vars (which the caller seeds with
// ${mac}, ${platform} and friends), and the run stops at `boot`, `chain`,
// `exit`, or a command that needs a human. Commands that only display or
// wait (menu, echo, sleep, prompt...) succeed and do nothing. Operators
// `&&`, `||` and `;` work as in iPXE (src/core/exec.c).
func planScript(script []byte, vars map[string]string) (bootPlan, error) {
	lines := scriptLines(string(script))
	labels := map[string]int{}
	for i, l := range lines {
		if l.label != "" {
			if _, dup := labels[l.label]; !dup {
				labels[l.label] = i
			}
		}
	}
	r := &scriptRun{vars: vars, labels: labels}
	for pc, steps := 0, 0; pc < len(lines); steps++ {
		if steps > maxScriptSteps {
			return r.plan, fmt.Errorf("script still running after %d lines (a loop?)", maxScriptSteps)
		}
		line := lines[pc]
		pc++
		next, stop, err := r.line(line.words)
		if err != nil {
			return r.plan, fmt.Errorf("line %d: %w", line.n, err)
		}
		if stop {
			return r.plan, nil
		}
		if next >= 0 {
			pc = next
		}
	}
	if r.plan.Kernel != "" {
		return r.plan, errors.New("script ended after `kernel` without `boot`")
	}
	return r.plan, errors.New("script ended without booting anything")
}

type scriptLine struct {
	n     int
	label string
	words []string
}

// scriptLines splits a script into logical lines (backslash continues a
// line), labels (":name") and words; "#" starts a comment at a word's start.
func scriptLines(text string) []scriptLine {
	var out []scriptLine
	phys := strings.Split(text, "\n")
	for i := 0; i < len(phys); i++ {
		n := i + 1
		l := strings.TrimSuffix(phys[i], "\r")
		for strings.HasSuffix(l, "\\") && i+1 < len(phys) {
			i++
			l = strings.TrimSuffix(l, "\\") + strings.TrimSuffix(phys[i], "\r")
		}
		sl := scriptLine{n: n}
		rest := strings.TrimSpace(l)
		if strings.HasPrefix(rest, ":") {
			name, after, _ := strings.Cut(rest[1:], " ")
			sl.label, rest = name, after
		}
		for _, w := range strings.Fields(rest) {
			if strings.HasPrefix(w, "#") {
				break
			}
			sl.words = append(sl.words, w)
		}
		out = append(out, sl)
	}
	return out
}

type scriptRun struct {
	vars   map[string]string
	labels map[string]int
	items  []string // item labels of the current menu
	plan   bootPlan
}

// line runs one line's commands. next is the line to go to (-1: the next
// one); stop ends the script with r.plan.
func (r *scriptRun) line(words []string) (next int, stop bool, err error) {
	next = -1
	ok, op := true, ""
	for len(words) > 0 {
		i := 0
		for i < len(words) && words[i] != "&&" && words[i] != "||" && words[i] != ";" {
			i++
		}
		cmd := words[:i]
		skip := (op == "&&" && !ok) || (op == "||" && ok)
		if len(cmd) > 0 && !skip {
			var jump int
			ok, jump, stop, err = r.command(r.expand(cmd))
			if err != nil || stop {
				return -1, stop, err
			}
			if jump >= 0 {
				return jump, false, nil
			}
		}
		op = ""
		if i < len(words) {
			op = words[i]
			i++
		}
		words = words[i:]
	}
	return next, false, nil
}

// expand replaces ${name} and ${name:type} in each word; unset names are "".
func (r *scriptRun) expand(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		var b strings.Builder
		for {
			start := strings.Index(w, "${")
			if start < 0 {
				break
			}
			end := strings.IndexByte(w[start:], '}')
			if end < 0 {
				break
			}
			name := w[start+2 : start+end]
			name, _, _ = strings.Cut(name, ":")
			b.WriteString(w[:start])
			b.WriteString(r.vars[name])
			w = w[start+end+1:]
		}
		b.WriteString(w)
		out[i] = b.String()
	}
	return out
}

// command runs one command: its success, a jump target (-1 for none), and
// whether the script stops here.
func (r *scriptRun) command(argv []string) (ok bool, jump int, stop bool, err error) {
	jump = -1
	name, args := argv[0], argv[1:]
	switch name {
	case "set":
		if len(args) == 0 {
			return false, jump, false, nil
		}
		r.vars[args[0]] = strings.Join(args[1:], " ")
	case "clear":
		if len(args) > 0 {
			delete(r.vars, args[0])
		}
	case "isset":
		return len(args) > 0 && args[0] != "", jump, false, nil
	case "iseq":
		return len(args) == 2 && args[0] == args[1], jump, false, nil
	case "menu":
		r.items = nil
	case "item":
		if _, pos := splitOptions(args, "key", "menu"); len(pos) > 0 && !hasFlag(args, "gap") {
			r.items = append(r.items, pos[0])
		}
	case "choose":
		opts, pos := splitOptions(args, "default", "timeout", "menu")
		if len(pos) == 0 {
			return false, jump, false, errors.New("choose without a setting name")
		}
		pick := opts["default"]
		if pick == "" && len(r.items) > 0 {
			pick = r.items[0]
		}
		if pick == "" {
			return false, jump, false, errors.New("choose: a menu without items")
		}
		r.vars[pos[0]] = pick
		r.plan.Item = pick
	case "goto":
		if len(args) == 0 {
			return false, jump, false, errors.New("goto without a label")
		}
		at, found := r.labels[args[0]]
		if !found {
			return false, jump, false, fmt.Errorf("goto %s: no such label", args[0])
		}
		return true, at, false, nil
	case "kernel", "imgselect":
		url, err := imageURL(name, args)
		if err != nil {
			return false, jump, false, err
		}
		r.plan.Kernel, r.plan.Modules = url, nil
	case "module", "initrd", "imgfetch", "imgload":
		url, err := imageURL(name, args)
		if err != nil {
			return false, jump, false, err
		}
		r.plan.Modules = append(r.plan.Modules, url)
	case "boot", "imgexec":
		if name == "imgexec" && len(args) > 0 {
			url, err := imageURL(name, args)
			if err != nil {
				return false, jump, false, err
			}
			r.plan.Chain = url
			return true, jump, true, nil
		}
		if r.plan.Kernel == "" {
			return false, jump, false, errors.New("boot with no kernel loaded")
		}
		return true, jump, true, nil
	case "chain":
		url, err := imageURL(name, args)
		if err != nil {
			return false, jump, false, err
		}
		r.plan.Chain = url
		return true, jump, true, nil
	case "exit":
		r.plan.Exit = true
		return true, jump, true, nil
	case "shell", "login", "reboot", "poweroff", "sanboot", "autoboot":
		return false, jump, false, fmt.Errorf("the script runs %q, which needs a human or another boot path", name)
	}
	// echo, imgfree, sleep, prompt, dhcp, ifconf, console, colour...: no
	// effect on what gets booted.
	return true, jump, false, nil
}

// imageURL is the first argument of an image command that is not an option
// (iPXE's image commands take --name/-n, --timeout/-t, --autofree/-a,
// --replace/-r).
func imageURL(cmd string, args []string) (string, error) {
	_, pos := splitOptions(args, "name", "timeout", "n", "t")
	if len(pos) == 0 || pos[0] == "" {
		return "", fmt.Errorf("%s without a URL", cmd)
	}
	return pos[0], nil
}

// splitOptions separates "--opt value" / "--opt=value" / "-o value" options
// that take a value (named in withValue) and bare flags from positional
// words. Options stop at the first positional word, as in iPXE's getopt.
func splitOptions(args []string, withValue ...string) (map[string]string, []string) {
	opts := map[string]string{}
	takes := func(n string) bool {
		for _, w := range withValue {
			if w == n {
				return true
			}
		}
		return false
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return opts, args[i+1:]
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			return opts, args[i:]
		}
		n, v, hasV := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if takes(n) && !hasV && i+1 < len(args) {
			i++
			v = args[i]
		}
		opts[n] = v
	}
	return opts, nil
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "--"+name {
			return true
		}
	}
	return false
}
