// Package ipxe models iPXE scripts: build one from typed statements, render
// it as text, and lint any script text for the mistakes that iPXE itself only
// reports at boot time, in front of a machine nobody is watching.
//
// How iPXE reads a script line (src/image/script.c and src/core/exec.c):
//
//   - A line ending in '\' continues on the next line; a trailing CR is
//     dropped. A line whose first word starts with ':' defines a label; the
//     rest of that line is an ordinary command.
//   - The line is split on whitespace. There is no quoting and no escaping:
//     an argument can never contain a space, and commands that join their
//     arguments back into text (echo, menu, item, set) join them with one
//     space, so runs of spaces collapse.
//   - A word that starts with '#' starts a comment; '#' inside a word is text.
//   - The words "&&", "||" and ";" standing alone separate commands. Anything
//     else, "&&;" included, is passed to the command as an argument.
//   - Each word is then expanded by expand_settings (src/core/settings.c),
//     which recognises only "${" ... "}". A '$' not followed by '{' is an
//     ordinary character, so a crypt string such as "$5$salt$hash" reaches the
//     kernel untouched. Conversely there is no way to write a literal "${x}":
//     it is always expanded (to nothing when x is unset).
//   - A command that fails ends the whole script unless "||" follows it.
//   - Options are read getopt-style until the first word not starting with
//     '-'; "--" ends them (src/core/getopt.c). An option's value may not start
//     with '-'.
package ipxe

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Magic is the first line of every iPXE script (src/image/script.c accepts
// "#!ipxe" or the legacy "#!gpxe", followed by whitespace).
const Magic = "#!ipxe"

// Stmt is one statement of a Script. The set of statements is closed: they
// are the types of this package.
type Stmt interface {
	// render returns the statement's text, without a trailing newline.
	render() (string, error)
}

// Script is an iPXE script under construction. The zero value is an empty
// script, ready to use.
type Script struct {
	stmts []Stmt
}

// New returns a script holding stmts.
func New(stmts ...Stmt) *Script {
	s := &Script{}
	s.Add(stmts...)
	return s
}

// Add appends statements.
func (s *Script) Add(stmts ...Stmt) {
	s.stmts = append(s.stmts, stmts...)
}

// Stmts returns a copy of the statements, in order.
func (s *Script) Stmts() []Stmt {
	return append([]Stmt(nil), s.stmts...)
}

// Validate reports every statement that cannot be written as iPXE would read
// it back (a space in a URL, a label iPXE cannot jump to, text that iPXE
// would take for a comment or an operator...). Render writes such statements
// as comments, so call Validate before serving a script.
func (s *Script) Validate() error {
	var errs []error
	for i, st := range s.stmts {
		if _, err := st.render(); err != nil {
			errs = append(errs, fmt.Errorf("statement %d (%T): %w", i+1, st, err))
		}
	}
	return errors.Join(errs...)
}

// Render returns the script text, starting with the #!ipxe line. An invalid
// statement (see Validate) is written as a comment saying why, never as a
// line iPXE would misread.
func (s *Script) Render() []byte {
	var b bytes.Buffer
	b.WriteString(Magic + "\n")
	for _, st := range s.stmts {
		text, err := st.render()
		if err != nil {
			text = "# invalid statement left out: " + oneLine(err.Error())
		}
		b.WriteString(text)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// oneLine flattens s so that it can sit in a comment.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Comment is a "# ..." line; a multi-line comment becomes several lines.
type Comment string

func (c Comment) render() (string, error) {
	lines := strings.Split(strings.TrimRight(string(c), "\n"), "\n")
	for i, l := range lines {
		if err := noControl(l); err != nil {
			return "", err
		}
		lines[i] = strings.TrimRight("# "+l, " ")
	}
	return strings.Join(lines, "\n"), nil
}

// Blank is an empty line, for the human reading the script.
type Blank struct{}

func (Blank) render() (string, error) { return "", nil }

// Label is a ":name" line, a target for goto and for menu items.
type Label string

func (l Label) render() (string, error) {
	if err := checkLabel(string(l)); err != nil {
		return "", err
	}
	return ":" + string(l), nil
}

// Raw is one line of iPXE written as is, for commands this package does not
// model. It must be a single line; nothing else is checked, so run Lint on
// scripts that use it.
type Raw string

func (r Raw) render() (string, error) {
	if err := noControl(string(r)); err != nil {
		return "", err
	}
	return string(r), nil
}

// Set is "set <name> <value>". With IfUnset it becomes
// "isset ${name} || set name value", which keeps a value set earlier (by an
// embedded script, by a previous run of this script, or by hand at the shell).
type Set struct {
	Name    string
	Value   string // iPXE text: ${...} in it is expanded when the line runs
	IfUnset bool
}

func (s Set) render() (string, error) {
	if err := checkSettingName(s.Name); err != nil {
		return "", err
	}
	// iPXE deletes a setting stored with an empty value (storef_setting in
	// src/core/settings.c): say "clear" if that is what is meant.
	if strings.TrimSpace(s.Value) == "" {
		return "", fmt.Errorf("set %s: empty value deletes the setting; use Clear", s.Name)
	}
	val, err := textWords(s.Value)
	if err != nil {
		return "", fmt.Errorf("set %s: %w", s.Name, err)
	}
	line := "set " + s.Name + " " + val
	if s.IfUnset {
		line = "isset ${" + s.Name + "} || " + line
	}
	return line, nil
}

// Menu is "menu [--name <name>] [<title>]": it starts a new menu.
type Menu struct {
	Name  string // "" is iPXE's default menu
	Title string
}

func (m Menu) render() (string, error) {
	w := []string{"menu"}
	if m.Name != "" {
		if err := checkToken(m.Name, false); err != nil {
			return "", fmt.Errorf("menu name: %w", err)
		}
		w = append(w, "--name", m.Name)
	}
	return joinText(w, m.Title, true)
}

// Item is "item [--menu <menu>] [--key <key>] [--default] <label> <text>".
type Item struct {
	Menu      string
	Label     string // the value choose stores; by convention a script label
	Text      string
	Key       string // shortcut key, e.g. "s"; "" for none
	IsDefault bool
}

func (it Item) render() (string, error) {
	w := []string{"item"}
	w = appendOpt(w, "--menu", it.Menu)
	w = appendOpt(w, "--key", it.Key)
	if it.IsDefault {
		w = append(w, "--default")
	}
	if err := checkLabel(it.Label); err != nil {
		return "", fmt.Errorf("item: %w", err)
	}
	if err := checkOptValues(w); err != nil {
		return "", fmt.Errorf("item %s: %w", it.Label, err)
	}
	line, err := joinText(append(w, it.Label), it.Text, false)
	if err != nil {
		return "", fmt.Errorf("item %s: %w", it.Label, err)
	}
	return line, nil
}

// Gap is "item --gap -- <text>": a line of the menu that cannot be chosen.
type Gap struct {
	Menu string
	Text string
}

func (g Gap) render() (string, error) {
	w := appendOpt([]string{"item"}, "--menu", g.Menu)
	if err := checkOptValues(w); err != nil {
		return "", err
	}
	// "--" ends the options, so the text may start with dashes.
	w = append(w, "--gap", "--")
	return joinText(w, g.Text, true)
}

// Choose is "choose [--menu m] [--default d] [--timeout t] [--keep] <setting>".
// Exactly one of Timeout and TimeoutSetting may be set; neither means wait
// forever. iPXE's timeout is in milliseconds and 0 waits forever.
type Choose struct {
	Menu           string
	Setting        string // where the chosen item's label is stored
	Default        string
	Timeout        time.Duration
	TimeoutSetting string // use ${TimeoutSetting} as the timeout, in ms
	Keep           bool   // keep the menu for another choose
	OnCancel       string // label to go to when the user presses Esc
}

func (c Choose) render() (string, error) {
	if c.Timeout != 0 && c.TimeoutSetting != "" {
		return "", errors.New("choose: set Timeout or TimeoutSetting, not both")
	}
	if c.Timeout < 0 {
		return "", errors.New("choose: negative timeout")
	}
	w := appendOpt([]string{"choose"}, "--menu", c.Menu)
	w = appendOpt(w, "--default", c.Default)
	if c.Timeout > 0 {
		w = append(w, "--timeout", strconv.FormatInt(Millis(c.Timeout), 10))
	}
	if c.TimeoutSetting != "" {
		if err := checkSettingName(c.TimeoutSetting); err != nil {
			return "", err
		}
		w = append(w, "--timeout", "${"+c.TimeoutSetting+"}")
	}
	if c.Keep {
		w = append(w, "--keep")
	}
	if err := checkOptValues(w); err != nil {
		return "", fmt.Errorf("choose: %w", err)
	}
	if err := checkSettingName(c.Setting); err != nil {
		return "", fmt.Errorf("choose: %w", err)
	}
	return withOnFail(strings.Join(append(w, c.Setting), " "), c.OnCancel)
}

// Millis converts d to iPXE's milliseconds, rounding a positive sub-millisecond
// duration up so that it never becomes 0, which iPXE reads as "forever".
func Millis(d time.Duration) int64 {
	ms := int64(d / time.Millisecond)
	if d > 0 && ms == 0 {
		ms = 1
	}
	return ms
}
