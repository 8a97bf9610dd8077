package ipxe

import (
	"strconv"
	"strings"
	"time"
)

// MenuModel is what a hand-written iPXE menu means, read the way a person
// reads it rather than the way iPXE runs it: its title, its items in order,
// the commands each item was meant to run, the default and the timeout. It
// is what an import into another menu needs (rackboot ipxe import).
type MenuModel struct {
	Title   string
	Items   []MenuItem
	Default string        // choose --default; "" if none
	Timeout time.Duration // choose --timeout; 0 with HasTimeout false: none
	// HasTimeout: choose gave --timeout (0 means forever to iPXE).
	HasTimeout bool
	// Settings are the literal values the script sets (the first value of
	// each); a "set x" with no value is present with the value "".
	Settings   map[string]string
	ChooseLine int // the line of choose, 0 if none
}

// MenuItem is one "item" line and what choosing it was meant to run.
type MenuItem struct {
	Label, Text string // the text with the script's literal settings expanded
	Line        int
	// Body is the commands under the item's label, or, when the script
	// has no such label (a common mistake: iPXE then fails "goto"), the
	// block of commands that stands in the item's place: the script's
	// unlabelled blocks that boot something, taken in item order.
	Body []Action
	// ByPosition: Body was matched by position, not by label.
	ByPosition bool
}

// Action is one command of an item's body, its words expanded with the
// script's literal settings (a setting set to nothing expands to nothing,
// as in iPXE; a setting the script never sets is left as ${name}).
type Action struct {
	Line int
	Name string
	Args []string
	// Options are the command's options (--name value) and Positional
	// its other arguments, split as iPXE's getopt would.
	Options    map[string]string
	Positional []string
}

// bootCommands are the commands that start something: a block holding one
// is an item's body.
var bootCommands = map[string]bool{"kernel": true, "chain": true, "sanboot": true, "boot": true,
	"imgexec": true, "imgselect": true, "imgload": true, "module": true, "initrd": true}

// ReadMenu reads a menu script. It never fails: what it cannot read is
// left out, and Lint says why.
func ReadMenu(script []byte) MenuModel {
	p := parseScript(script)
	m := MenuModel{Settings: map[string]string{}}
	for _, ll := range p.lines {
		for _, c := range ll.cmds {
			if c.words[0] == "set" {
				_, pos := c.options()
				if len(pos) >= 1 {
					if _, seen := m.Settings[pos[0]]; !seen {
						m.Settings[pos[0]] = strings.Join(pos[1:], " ")
					}
				}
			}
		}
	}
	labels := map[string]int{} // label -> index in p.lines
	for i, ll := range p.lines {
		if ll.hasLabel && ll.label != "" {
			if _, dup := labels[ll.label]; !dup {
				labels[ll.label] = i
			}
		}
	}
	for _, ll := range p.lines {
		for _, c := range ll.cmds {
			opts, pos := c.options()
			switch c.words[0] {
			case "menu":
				if m.Title == "" {
					m.Title = m.expand(strings.Join(pos, " "))
				}
			case "item":
				if _, gap := opts["gap"]; gap || len(pos) == 0 {
					continue
				}
				m.Items = append(m.Items, MenuItem{Label: pos[0], Text: m.expand(strings.Join(pos[1:], " ")), Line: ll.n})
			case "choose":
				if m.ChooseLine != 0 {
					continue
				}
				m.ChooseLine = ll.n
				m.Default = opts["default"]
				if t, ok := opts["timeout"]; ok {
					if ms, err := strconv.ParseInt(t, 10, 64); err == nil {
						m.Timeout, m.HasTimeout = time.Duration(ms)*time.Millisecond, true
					}
				}
			}
		}
	}
	var blocks [][]Action
	if m.ChooseLine > 0 {
		blocks = m.bootBlocks(p)
	}
	for i := range m.Items {
		it := &m.Items[i]
		if at, ok := labels[it.Label]; ok {
			it.Body = m.labelBody(p, at)
			continue
		}
		if isUtility(*it) || len(blocks) == 0 {
			continue
		}
		it.Body, it.ByPosition, blocks = blocks[0], true, blocks[1:]
	}
	return m
}

// isUtility: items whose label says what they do (shell, reboot, exit)
// need no body to be understood.
func isUtility(it MenuItem) bool {
	switch it.Label {
	case "shell", "reboot", "exit", "poweroff", "config":
		return true
	}
	return false
}

// labelBody is the commands from the label at line index at to the next
// label.
func (m MenuModel) labelBody(p parsed, at int) []Action {
	var out []Action
	for i := at; i < len(p.lines); i++ {
		ll := p.lines[i]
		if i > at && ll.hasLabel {
			break
		}
		for _, c := range ll.cmds {
			out = append(out, m.action(c))
		}
	}
	return out
}

// bootBlocks are the runs of commands after choose, separated by blank
// lines and labels, that boot something.
func (m MenuModel) bootBlocks(p parsed) [][]Action {
	var out [][]Action
	var cur []Action
	boots := false
	flush := func() {
		if boots {
			out = append(out, cur)
		}
		cur, boots = nil, false
	}
	for _, ll := range p.lines {
		if ll.n <= m.ChooseLine {
			continue
		}
		if len(ll.cmds) == 0 || ll.hasLabel {
			flush()
		}
		for _, c := range ll.cmds {
			a := m.action(c)
			cur = append(cur, a)
			if bootCommands[a.Name] {
				boots = true
			}
		}
	}
	flush()
	return out
}

func (m MenuModel) action(c command) Action {
	opts, pos := c.options()
	a := Action{Line: c.line, Name: c.words[0], Options: opts}
	for _, w := range c.words[1:] {
		a.Args = append(a.Args, m.expand(w))
	}
	for _, w := range pos {
		a.Positional = append(a.Positional, m.expand(w))
	}
	for k, v := range opts {
		opts[k] = m.expand(v)
	}
	return a
}

// expand replaces ${name} by the script's literal value of name; names
// the script does not set (iPXE's own, like ${net0/mac}) are kept.
func (m MenuModel) expand(w string) string {
	var b strings.Builder
	for {
		i := strings.Index(w, "${")
		if i < 0 {
			b.WriteString(w)
			return b.String()
		}
		j := strings.IndexByte(w[i:], '}')
		if j < 0 {
			b.WriteString(w)
			return b.String()
		}
		name := w[i+2 : i+j]
		b.WriteString(w[:i])
		if v, ok := m.Settings[name]; ok {
			b.WriteString(v)
		} else {
			b.WriteString(w[i : i+j+1])
		}
		w = w[i+j+1:]
	}
}
