package ipxe

import (
	"sort"
	"strings"
)

// checkCommands applies the per-command rules.
func (l *linter) checkCommands() {
	reported := map[string]bool{} // undefined settings already reported
	for _, ll := range l.p.lines {
		for _, c := range ll.cmds {
			l.checkUndefined(c, reported)
			_, pos := c.options()
			switch canonical(c.words[0]) {
			case "goto":
				l.checkGoto(c, pos)
			case "choose":
				l.checkChoose(c)
			case "set":
				if len(pos) == 1 {
					l.add(c.line, RuleEmptySet, "\"set %s\" with no value deletes %s (iPXE stores an empty value as no value); write \"clear %s\" if that is meant, or give a value", pos[0], pos[0], pos[0])
				}
			}
		}
	}
}

func (l *linter) checkGoto(c command, pos []string) {
	if len(pos) != 1 {
		l.add(c.line, RuleArgCount, "goto takes one label, got %d arguments: %s", len(pos), strings.Join(pos, " "))
		return
	}
	target := pos[0]
	if strings.Contains(target, "${") {
		return // checked through the items of the menus (checkItems)
	}
	if _, ok := l.labels[target]; !ok {
		l.add(c.line, RuleGotoTarget, "goto %s: there is no label :%s in the script, so iPXE fails here", target, target)
	}
}

func (l *linter) checkChoose(c command) {
	opts, pos := c.options()
	if len(pos) != 1 {
		l.add(c.line, RuleArgCount, "choose takes one setting name, got %d arguments (%s): it fails before showing the menu", len(pos), strings.Join(pos, " "))
	}
	def, ok := opts["default"]
	if !ok || def == "" || strings.Contains(def, "${") {
		return
	}
	if items := l.items[opts["menu"]]; !items[def] {
		l.add(c.line, RuleChooseDefault, "choose --default %s: the menu has no item %q, so there is no default to boot when the timeout expires", def, def)
	}
}

// checkUndefined reports each ${x} that is never set and not built in, once.
func (l *linter) checkUndefined(c command, reported map[string]bool) {
	if canonical(c.words[0]) == "isset" {
		return // testing whether x is set is the point of isset
	}
	for _, w := range c.words {
		for _, n := range expansions(w) {
			name := baseSettingName(n)
			if name == "" || l.defs[name] || isBuiltin(name) || reported[name] {
				continue
			}
			reported[name] = true
			l.add(c.line, RuleUndefined, "${%s} is never set in the script and is not an iPXE built-in setting: it expands to nothing", n)
		}
	}
}

// checkItems: when the script jumps with "goto ${choice}", every item of its
// menus must have a label, or choosing it fails. An item compared with iseq
// is handled that way instead.
func (l *linter) checkItems() {
	if len(l.dynSet) == 0 {
		return
	}
	line := map[string]int{}
	for _, ll := range l.p.lines {
		for _, c := range ll.cmds {
			if canonical(c.words[0]) != "item" {
				continue
			}
			opts, pos := c.options()
			if _, gap := opts["gap"]; gap || len(pos) == 0 {
				continue
			}
			if _, seen := line[pos[0]]; !seen {
				line[pos[0]] = c.line
			}
		}
	}
	names := make([]string, 0, len(line))
	for n := range line {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := l.labels[n]; !ok && !l.iseq[n] {
			l.add(line[n], RuleItemLabel, "item %s has no label :%s, so choosing it makes \"goto ${...}\" fail", n, n)
		}
	}
}

// checkReachable reports the first command after an unconditional goto or
// exit that no label precedes: nothing can ever run it. A jump made with
// "||" or "&&" is conditional and does not count. The region stays
// unreachable until the next label, and is reported once.
func (l *linter) checkReachable() {
	jumpLine, reported := 0, false
	for _, ll := range l.p.lines {
		if ll.hasLabel {
			jumpLine, reported = 0, false
		}
		if len(ll.cmds) == 0 {
			continue
		}
		if jumpLine != 0 && !reported {
			l.add(ll.n, RuleUnreachable, "no label leads here and line %d always jumps away, so this never runs: add a label and a way to reach it", jumpLine)
			reported = true
		}
		if jumpLine == 0 && len(ll.cmds) == 1 && ll.cmds[0].after == "" {
			switch ll.cmds[0].words[0] {
			case "goto", "exit":
				jumpLine = ll.n
			}
		}
	}
}
