package ipxe

import (
	"strings"
)

// A parsed script, as iPXE's script.c and exec.c would split it.
type parsed struct {
	lines []logicalLine
}

// logicalLine is one script line after backslash continuations are joined.
type logicalLine struct {
	n        int    // 1-based number of its first physical line
	text     string // joined text, trailing CR removed
	label    string // from a ":label" prefix, "" if none
	hasLabel bool   // the line defines a label (possibly empty)
	words    []string
	cmds     []command
}

// command is one command of a line: the words between operators.
type command struct {
	line  int
	words []string // words[0] is the command name
	after string   // operator that follows ("&&", "||", ";") or ""
}

// parseScript splits text into logical lines, labels, words and commands.
func parseScript(text []byte) parsed {
	var p parsed
	phys := strings.Split(string(text), "\n")
	// A final newline does not start another line.
	if len(phys) > 0 && phys[len(phys)-1] == "" {
		phys = phys[:len(phys)-1]
	}
	var cur strings.Builder
	start, continuing := 0, false
	for i, l := range phys {
		if !continuing {
			start = i + 1
		}
		l = strings.TrimSuffix(l, "\r")
		if strings.HasSuffix(l, "\\") && i < len(phys)-1 {
			cur.WriteString(strings.TrimSuffix(l, "\\"))
			continuing = true
			continue
		}
		cur.WriteString(l)
		p.lines = append(p.lines, splitLine(start, cur.String()))
		cur.Reset()
		continuing = false
	}
	return p
}

// splitLine reads the label and the commands of one logical line.
func splitLine(n int, text string) logicalLine {
	ll := logicalLine{n: n, text: text}
	rest := strings.TrimLeft(text, " \t\v\f")
	if strings.HasPrefix(rest, ":") {
		ll.hasLabel = true
		end := strings.IndexAny(rest, " \t\v\f")
		if end < 0 {
			end = len(rest)
		}
		ll.label = rest[1:end]
		rest = rest[end:]
	}
	for _, w := range strings.Fields(rest) {
		if strings.HasPrefix(w, "#") {
			break
		}
		ll.words = append(ll.words, w)
	}
	var c command
	for _, w := range ll.words {
		if isOperator(w) {
			c.after = w
			ll.cmds = appendCmd(ll.cmds, c, n)
			c = command{}
			continue
		}
		c.words = append(c.words, w)
	}
	ll.cmds = appendCmd(ll.cmds, c, n)
	return ll
}

func appendCmd(cmds []command, c command, n int) []command {
	if len(c.words) == 0 {
		// An empty command ("... ||" at the end of a line) succeeds and
		// does nothing (execv with no command in src/core/exec.c).
		return cmds
	}
	c.line = n
	return append(cmds, c)
}

// optSpec lists, per command, the options that take a value; other options
// are flags. Only the commands the lint rules look into are listed.
var optSpec = map[string]map[string]bool{
	"choose":   {"menu": true, "default": true, "timeout": true, "retimeout": true, "keep": false, "m": true, "d": true, "t": true, "r": true, "k": false},
	"item":     {"menu": true, "key": true, "default": false, "gap": false, "m": true, "k": true, "d": false, "g": false},
	"menu":     {"name": true, "delete": false, "n": true, "d": false},
	"prompt":   {"key": true, "timeout": true, "set": true, "k": true, "t": true, "s": true},
	"kernel":   {"name": true, "timeout": true, "autofree": false, "replace": false, "n": true, "t": true, "a": false, "r": false},
	"imgfetch": {"name": true, "timeout": true, "n": true, "t": true},
	"read":     {},
	"set":      {},
	"goto":     {},
	"isset":    {},
	"iseq":     {},
	"clear":    {},
	"echo":     {"n": false},
}

// aliases maps iPXE's synonyms to the name used in optSpec.
var aliases = map[string]string{
	"imgselect": "kernel", "imgload": "kernel", "chain": "kernel",
	"imgexec": "kernel", "boot": "kernel", "module": "imgfetch", "initrd": "imgfetch",
}

// canonical returns the optSpec name of a command.
func canonical(name string) string {
	if a, ok := aliases[name]; ok {
		return a
	}
	return name
}

// options splits a command's arguments (words[1:]) the way iPXE's getopt
// would: options until the first word not starting with '-', or "--".
func (c command) options() (opts map[string]string, pos []string) {
	spec := optSpec[canonical(c.words[0])]
	opts = map[string]string{}
	args := c.words[1:]
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if spec[name] && !hasVal && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			i++
			val = args[i]
		}
		opts[longName(name)] = val
	}
	return opts, args[i:]
}

// longName maps the short options used in optSpec to their long names.
func longName(n string) string {
	switch n {
	case "m":
		return "menu"
	case "d":
		return "default"
	case "t":
		return "timeout"
	case "k":
		return "key"
	case "n":
		return "name"
	case "g":
		return "gap"
	case "s":
		return "set"
	}
	return n
}
