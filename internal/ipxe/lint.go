package ipxe

import (
	"fmt"
	"sort"
	"strings"
)

// Lint rule names, as found in Problem.Rule.
const (
	RuleMagic          = "magic"             // the script does not start with #!ipxe
	RuleGotoTarget     = "goto-target"       // goto to a label that does not exist
	RuleDuplicateLabel = "duplicate-label"   // goto would always land on the first one
	RuleChooseDefault  = "choose-default"    // choose --default names no item
	RuleItemLabel      = "item-label"        // an item "goto ${choice}" cannot reach
	RuleGluedOperator  = "glued-operator"    // "&&;" and friends: not operators
	RuleArgCount       = "arg-count"         // goto/choose with the wrong number of arguments
	RuleUndefined      = "undefined-setting" // ${x} read, never set, not built in
	RuleEmptySet       = "empty-set"         // "set x" with no value deletes x
	RuleLineLength     = "line-length"       // longer than iPXE's line editor holds
	RuleMultiboot      = "multiboot-cmdline" // kernel+module strings over 512 bytes
	RuleUnreachable    = "unreachable"       // no label after an unconditional jump
)

// MaxLineLen is the longest line iPXE's line editor holds (READLINE_MAX is
// 1024 bytes with the NUL, src/hci/readline.c). Script files themselves have
// no line limit (src/image/script.c grows its buffer), but a longer line
// cannot be typed, recalled or fixed at the iPXE shell, and it is usually a
// kernel line about to hit a harder limit.
const MaxLineLen = 1023

// MultibootCmdlineMax is the room iPXE's BIOS build has for all multiboot
// command lines together: the kernel's "<url> <args>" and every module's
// "<url> <args>", each with its NUL (MB_MAX_CMDLINE in
// src/arch/x86/image/multiboot.c). What does not fit is cut off silently.
const MultibootCmdlineMax = 512

// unknownValue stands for a setting's value that is only known at boot time.
const unknownValue = "\x00"

// Problem is one finding of Lint.
type Problem struct {
	Line    int // 1-based; 0 when the problem is about the whole script
	Rule    string
	Message string
}

func (p Problem) String() string {
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Rule, p.Message)
}

// Lint reads any iPXE script and reports what would go wrong when iPXE runs
// it. It knows iPXE's syntax, not the intent of the script, so it checks
// what can be checked without running it. Problems are sorted by line.
func Lint(script []byte) []Problem {
	p := parseScript(script)
	l := &linter{p: p}
	l.collect()
	l.checkMagic(script)
	l.checkLines()
	l.checkCommands()
	l.checkItems()
	l.checkMultiboot()
	l.checkReachable()
	sort.SliceStable(l.probs, func(i, j int) bool { return l.probs[i].Line < l.probs[j].Line })
	return l.probs
}

type linter struct {
	p      parsed
	probs  []Problem
	labels map[string]int             // label -> first line defining it
	items  map[string]map[string]bool // menu name -> item labels
	defs   map[string]bool            // settings the script sets
	values map[string][]string        // literal values given to settings
	iseq   map[string]bool            // words compared by iseq
	dynSet map[string]bool            // settings used as "goto ${x}"
}

func (l *linter) add(line int, rule, format string, args ...any) {
	l.probs = append(l.probs, Problem{Line: line, Rule: rule, Message: fmt.Sprintf(format, args...)})
}

// collect gathers labels, menu items and settings over the whole script
// first: goto may jump backwards, and a setting may be set below its use.
func (l *linter) collect() {
	l.labels = map[string]int{}
	l.items = map[string]map[string]bool{}
	l.defs = map[string]bool{}
	l.values = map[string][]string{}
	l.iseq = map[string]bool{}
	l.dynSet = map[string]bool{}
	for _, ll := range l.p.lines {
		l.collectLabel(ll)
		for i, w := range ll.words {
			// Seen at word level on purpose: in "choose x &&; goto ${x}" the
			// goto is an argument of choose, yet the intent is plain.
			if w == "goto" && i+1 < len(ll.words) {
				for _, n := range expansions(ll.words[i+1]) {
					l.dynSet[baseSettingName(n)] = true
				}
			}
		}
		for _, c := range ll.cmds {
			l.collectCmd(c)
		}
	}
}

func (l *linter) collectLabel(ll logicalLine) {
	if !ll.hasLabel || ll.label == "" {
		return
	}
	if first, dup := l.labels[ll.label]; dup {
		l.add(ll.n, RuleDuplicateLabel, ":%s is already defined on line %d; goto always lands on the first", ll.label, first)
		return
	}
	l.labels[ll.label] = ll.n
}

func (l *linter) collectCmd(c command) {
	opts, pos := c.options()
	switch canonical(c.words[0]) {
	case "set":
		if len(pos) >= 2 {
			name := baseSettingName(pos[0])
			l.defs[name] = true
			l.values[name] = append(l.values[name], strings.Join(pos[1:], " "))
		}
	case "choose", "read":
		if len(pos) >= 1 {
			l.defs[baseSettingName(pos[0])] = true
			// Its value is chosen or typed at boot time.
			l.values[baseSettingName(pos[0])] = append(l.values[baseSettingName(pos[0])], unknownValue)
		}
	case "prompt":
		if s := opts["set"]; s != "" {
			l.defs[baseSettingName(s)] = true
		}
	case "iseq":
		for _, w := range pos {
			l.iseq[w] = true
		}
	case "item":
		if _, gap := opts["gap"]; gap || len(pos) == 0 {
			return
		}
		m := opts["menu"]
		if l.items[m] == nil {
			l.items[m] = map[string]bool{}
		}
		l.items[m][pos[0]] = true
	}
}

// checkMagic: iPXE runs a file as a script only if it starts with the magic
// line; anything else is tried as another image type and fails.
func (l *linter) checkMagic(script []byte) {
	s := string(script)
	for _, m := range []string{"#!ipxe", "#!gpxe"} {
		if strings.HasPrefix(s, m) && len(s) > len(m) && strings.ContainsRune(" \t\r\n", rune(s[len(m)])) {
			return
		}
	}
	l.add(1, RuleMagic, "the script must start with a line \"#!ipxe\"; without it iPXE does not run the file as a script")
}

func (l *linter) checkLines() {
	for _, ll := range l.p.lines {
		if len(ll.text) > MaxLineLen {
			l.add(ll.n, RuleLineLength, "line is %d bytes; iPXE's line editor holds %d, so it cannot be typed or fixed at the iPXE shell: shorten it, e.g. with a setting", len(ll.text), MaxLineLen)
		}
		for _, w := range ll.words {
			if looksLikeOperator(w) {
				l.add(ll.n, RuleGluedOperator, "%q is not an operator: iPXE only knows \"&&\", \"||\" and \";\" as separate words, so %q is passed to the command as an argument", w, w)
			}
		}
	}
}
