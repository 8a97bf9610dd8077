package textview

import (
	"fmt"
	"io"
	"strings"

	"rackboot/internal/api"
)

// BMC writes a machine's BMC as "field value" lines; the password is only
// said to be set or not, never shown.
func BMC(w io.Writer, v api.BMCView) {
	pw := "not set"
	if v.PasswordSet {
		pw = "set (never shown)"
	}
	fmt.Fprintf(w, "mac        %s\naddress    %s\nuser       %s\npassword   %s\ninterface  %s\n", v.MAC, orDash(v.Address), orDash(v.User), pw, v.Interface)
	if len(v.Rules) > 0 {
		fmt.Fprintf(w, "rules      %s\n", strings.Join(v.Rules, ", "))
	}
}

// BMCLine is a machine's BMC in one line, for the end of Machine's block.
func BMCLine(v api.BMCView) string {
	pw := "no password"
	if v.PasswordSet {
		pw = "password set"
	}
	return fmt.Sprintf("BMC: %s (%s), user %s, %s", v.Address, v.Interface, orDash(v.User), pw)
}
