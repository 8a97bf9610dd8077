package bmc

import (
	"errors"
	"fmt"
)

// Kind sorts BMC failures by what the operator does about them.
type Kind string

const (
	KindConfig      Kind = "not-configured" // no address, or credentials rackboot cannot use
	KindAuth        Kind = "auth"           // wrong user or password (or the user may not do this)
	KindNoAnswer    Kind = "no-answer"      // nothing answered in time, or the port is closed
	KindUnsupported Kind = "unsupported"    // the BMC refused the command or its data
	KindState       Kind = "state"          // not possible in the present state (reset while off)
	KindFailed      Kind = "failed"         // anything else
)

// Error is a BMC failure with its Kind; its message says what to do.
type Error struct {
	Kind Kind
	Op   string // "connect", "power on", "set boot device", ...
	Err  error
	// Detail is the library's own account, for the log (it may be long).
	Detail string
}

func (e *Error) Error() string {
	hint := ""
	switch e.Kind {
	case KindAuth:
		hint = ": check the BMC user and password (rackboot machines bmc set MAC --user … --password-file …)"
	case KindNoAnswer:
		hint = ": check the BMC's address and that its UDP port (623) reaches it from rackboot"
	case KindUnsupported:
		hint = " (the BMC does not support it)"
	}
	if e.Op == "" {
		return e.Err.Error() + hint
	}
	return fmt.Sprintf("%s: %v%s", e.Op, e.Err, hint)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf is err's Kind: KindFailed for errors that are not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindFailed
}

// Transient reports whether trying again may help.
func Transient(err error) bool {
	k := KindOf(err)
	return k == KindNoAnswer || k == KindFailed
}
