package ipxe

import (
	"errors"
	"fmt"
	"strings"
)

// IsEq is "iseq <a> <b>": it succeeds when a and b are equal after
// expansion. Give it OrGoto to jump when they differ.
func IsEq(a, b string) Command { return Command{Name: "iseq", Args: []string{a, b}} }

// IfEq is "iseq <a> <b> && <then> && ... ||": the statements of Then run in
// order when a equals b. The trailing "||" (an empty command, which
// succeeds) makes an unequal pair do nothing instead of ending the script,
// so that lines of IfEq read as a switch on a setting:
//
//	iseq ${console} text && set console ttya && goto menu ||
//	iseq ${console} ttya && set console text && goto menu ||
//
// Then may hold commands without OnFail, Sets without IfUnset, Items and
// Gaps: each must be one command, as "&&" joins them.
type IfEq struct {
	A, B string
	Then []Stmt
}

func (c IfEq) render() (string, error) {
	for _, w := range []string{c.A, c.B} {
		if err := checkToken(w, true); err != nil {
			return "", fmt.Errorf("iseq: %w", err)
		}
	}
	if len(c.Then) == 0 {
		return "", errors.New("iseq: nothing to do when equal")
	}
	parts := []string{"iseq " + c.A + " " + c.B}
	for _, st := range c.Then {
		switch st := st.(type) {
		case Command:
			if st.OnFail != "" {
				return "", fmt.Errorf("iseq: %s has a failure branch, which would end the && chain", st.Name)
			}
		case Set:
			if st.IfUnset {
				return "", fmt.Errorf("iseq: set %s with IfUnset is a chain of its own", st.Name)
			}
		case Item, Gap:
		default:
			return "", fmt.Errorf("iseq: %T cannot be part of a command chain", st)
		}
		text, err := st.render()
		if err != nil {
			return "", err
		}
		parts = append(parts, text)
	}
	return strings.Join(parts, " && ") + " ||", nil
}
