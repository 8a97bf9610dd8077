package ipxe

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// isOperator reports whether w is one of the words that separate commands.
func isOperator(w string) bool { return w == "&&" || w == "||" || w == ";" }

// looksLikeOperator reports words made only of '&', '|' and ';' that are not
// operators, such as "&&;": iPXE passes them to the command as arguments.
func looksLikeOperator(w string) bool {
	return w != "" && !isOperator(w) && strings.Trim(w, "&|;") == ""
}

// noControl rejects characters that would end or corrupt a script line.
func noControl(s string) error {
	for _, r := range s {
		if r == '\n' || r == '\r' || r == 0 || (unicode.IsControl(r) && r != '\t') {
			return fmt.Errorf("%q: control character %U", s, r)
		}
	}
	return nil
}

// checkToken checks a word that iPXE must read back as exactly one argument.
func checkToken(w string, allowExpansion bool) error {
	switch {
	case w == "":
		return errors.New("empty word")
	case strings.IndexFunc(w, unicode.IsSpace) >= 0:
		return fmt.Errorf("%q: iPXE splits words on whitespace and has no quoting", w)
	case strings.HasPrefix(w, "#"):
		return fmt.Errorf("%q: a word starting with '#' starts a comment", w)
	case isOperator(w) || looksLikeOperator(w):
		return fmt.Errorf("%q: reads as a command separator", w)
	case !allowExpansion && strings.Contains(w, "${"):
		return fmt.Errorf("%q: \"${\" would be expanded by iPXE", w)
	}
	return noControl(w)
}

// checkLabel checks a label name: a literal word, no expansion.
func checkLabel(l string) error {
	if err := checkToken(l, false); err != nil {
		return fmt.Errorf("label: %w", err)
	}
	if strings.HasPrefix(l, "-") || strings.HasPrefix(l, ":") {
		return fmt.Errorf("label %q: must not start with '-' or ':'", l)
	}
	return nil
}

// checkSettingName checks a setting name such as "menu-timeout",
// "net0/ip" or "kflags:hex".
func checkSettingName(n string) error {
	if n == "" {
		return errors.New("empty setting name")
	}
	for _, r := range n {
		ok := r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_./:", r))
		if !ok {
			return fmt.Errorf("setting name %q: character %q not allowed", n, r)
		}
	}
	return nil
}

// appendOpt appends "--opt value" when value is not empty.
func appendOpt(w []string, opt, value string) []string {
	if value == "" {
		return w
	}
	return append(w, opt, value)
}

// checkOptValues checks the option values in w (every word after an --opt
// that takes one): getopt refuses a value starting with '-'.
func checkOptValues(w []string) error {
	for i := 1; i < len(w); i++ {
		v := w[i]
		if strings.HasPrefix(v, "--") {
			continue
		}
		if err := checkToken(v, true); err != nil {
			return err
		}
		if strings.HasPrefix(v, "-") {
			return fmt.Errorf("option value %q: iPXE's getopt refuses values starting with '-'", v)
		}
	}
	return nil
}

// textWords normalises free text to single-spaced words and checks that iPXE
// will read every word back as text.
func textWords(text string) (string, error) {
	words := strings.Fields(text)
	for _, w := range words {
		if err := checkToken(w, true); err != nil {
			return "", err
		}
	}
	return strings.Join(words, " "), nil
}

// joinText appends free text to the words w. When the text is the command's
// first positional argument (optsOpen) and starts with '-', "--" goes first so
// that getopt does not read it as an option; after a positional argument
// getopt has stopped and "--" would be text.
func joinText(w []string, text string, optsOpen bool) (string, error) {
	t, err := textWords(text)
	if err != nil {
		return "", err
	}
	if t == "" {
		return strings.Join(w, " "), nil
	}
	if optsOpen && strings.HasPrefix(t, "-") && w[len(w)-1] != "--" {
		w = append(w, "--")
	}
	return strings.Join(w, " ") + " " + t, nil
}

// withOnFail appends "|| goto label" when label is set.
func withOnFail(line, label string) (string, error) {
	if label == "" {
		return line, nil
	}
	if err := checkLabel(label); err != nil {
		return "", fmt.Errorf("failure branch: %w", err)
	}
	return line + " || goto " + label, nil
}
