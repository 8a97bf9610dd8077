package smartos

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"rackboot/internal/bootargs"
)

// BootArgs is the -B property list of the SmartOS kernel line:
//
//	console=text,root_shadow='$5$...',smartos=true,noimport=true,<extra>
//
// illumos reads it as comma-separated name=value pairs; a value may be
// enclosed in single or double quotes to hold commas (ttyb-mode="115200,8,n,1,-").
// The list also crosses iPXE, which splits its command lines on whitespace
// with no quoting, so no part of it may contain whitespace.
type BootArgs struct {
	Console    string        // text, ttya, ttyb, ttyc, ttyd or vga; "" leaves the platform's default
	OSConsole  string        // os_console: the console once the OS runs, if not Console
	RootShadow string        // crypt(3) hash for root, see HashPassword; "" keeps the platform's
	NoImport   bool          // noimport=true: do not import the zpool (rescue)
	Standalone bool          // standalone=true: no Triton head node; keep local config
	Extra      []bootargs.KV // more properties, written in this order after the others
}

// Consoles are the values console= and os_console= accept.
var Consoles = []string{"text", "ttya", "ttyb", "ttyc", "ttyd", "vga"}

// reservedProps are the properties BootArgs writes itself.
var reservedProps = map[string]string{
	"console": "Console", "os_console": "OSConsole", "root_shadow": "RootShadow",
	"smartos": "(always true)", "noimport": "NoImport", "standalone": "Standalone",
}

// propName is a -B property name as illumos boot properties are spelled:
// "hostname", "admin_nic", "ttyb-mode", "zfs.arc_max".
var propName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// Validate reports the first setting that would break the -B list or that
// SmartOS does not know.
func (b BootArgs) Validate() error {
	for _, c := range []struct{ name, v string }{{"console", b.Console}, {"os_console", b.OSConsole}} {
		if c.v != "" && !validConsole(c.v) {
			return fmt.Errorf("%s %q: want one of %s", c.name, c.v, strings.Join(Consoles, ", "))
		}
	}
	if b.RootShadow != "" {
		if err := ValidShadow(b.RootShadow); err != nil {
			return fmt.Errorf("root_shadow: %w", err)
		}
	}
	seen := map[string]bool{}
	for _, kv := range b.Extra {
		if err := checkExtra(kv); err != nil {
			return err
		}
		if seen[kv.Key] {
			return fmt.Errorf("boot argument %s is given twice", kv.Key)
		}
		seen[kv.Key] = true
	}
	return nil
}

func validConsole(c string) bool {
	for _, v := range Consoles {
		if c == v {
			return true
		}
	}
	return false
}

// checkExtra checks one extra property.
func checkExtra(kv bootargs.KV) error {
	if !propName.MatchString(kv.Key) {
		return fmt.Errorf("boot argument name %q: use letters, digits, '_', '.' and '-', starting with a letter", kv.Key)
	}
	if field, ok := reservedProps[kv.Key]; ok {
		return fmt.Errorf("boot argument %s is written by rackboot itself; set %s instead", kv.Key, field)
	}
	if err := checkValue(kv.Value); err != nil {
		return fmt.Errorf("boot argument %s=%s: %w", kv.Key, kv.Value, err)
	}
	return nil
}

// checkValue accepts a plain value, or one wholly enclosed in matching
// quotes, which may then hold commas.
func checkValue(v string) error {
	if v == "" {
		return errors.New("empty value; leave the argument out instead")
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return errors.New("whitespace or control characters cannot pass through iPXE's command line")
	}
	if q := v[0]; (q == '\'' || q == '"') && len(v) >= 2 && v[len(v)-1] == q {
		if strings.ContainsRune(v[1:len(v)-1], rune(q)) {
			return fmt.Errorf("the quote %c appears inside the quoted value", q)
		}
		return nil
	}
	if strings.ContainsAny(v, ",'\"") {
		return errors.New("a comma or quote would end the property; enclose the whole value in quotes if it needs commas")
	}
	return nil
}

// String writes the property list, without the "-B". Call Validate first;
// String does not check.
//
// The order follows the hand-written menus SmartOS users share: console,
// os_console, root_shadow, smartos=true, noimport, standalone, extras.
// root_shadow is single-quoted as in SmartOS's own loader and GRUB menus:
// illumos strips the quotes. iPXE leaves the '$' of "$5$..." alone, since it
// only expands "${".
func (b BootArgs) String() string { return JoinProps(b.Props()) }

// Props returns the properties String writes, in its order, for a caller
// that replaces a value (a menu putting an iPXE setting in place of
// noimport's true).
func (b BootArgs) Props() []bootargs.KV {
	var p []bootargs.KV
	if b.Console != "" {
		p = append(p, bootargs.KV{Key: "console", Value: b.Console})
	}
	if b.OSConsole != "" {
		p = append(p, bootargs.KV{Key: "os_console", Value: b.OSConsole})
	}
	if b.RootShadow != "" {
		p = append(p, bootargs.KV{Key: "root_shadow", Value: "'" + b.RootShadow + "'"})
	}
	p = append(p, bootargs.KV{Key: "smartos", Value: "true"})
	if b.NoImport {
		p = append(p, bootargs.KV{Key: "noimport", Value: "true"})
	}
	if b.Standalone {
		p = append(p, bootargs.KV{Key: "standalone", Value: "true"})
	}
	return append(p, b.Extra...)
}

// JoinProps writes properties as a -B list: "name=value,name=value".
func JoinProps(props []bootargs.KV) string {
	p := make([]string, len(props))
	for i, kv := range props {
		p[i] = kv.Key + "=" + kv.Value
	}
	return strings.Join(p, ",")
}

// KernelDebugger says whether and how the illumos kernel debugger (kmdb)
// starts. Its flags go on the kernel line before -B: "unix -kd -B ...".
type KernelDebugger string

// The kernel debugger settings (illumos kernel(8) and kmdb(1)).
const (
	DebuggerOff  KernelDebugger = "off"  // no flag
	DebuggerLoad KernelDebugger = "load" // -k: kmdb is loaded; a panic or a break enters it
	DebuggerBoot KernelDebugger = "boot" // -kd: kmdb is loaded and stops before the kernel starts
)

// KernelDebuggers lists the settings in the order a menu cycles through them.
var KernelDebuggers = []KernelDebugger{DebuggerOff, DebuggerLoad, DebuggerBoot}

// ParseKernelDebugger reads a setting; "" is DebuggerOff.
func ParseKernelDebugger(s string) (KernelDebugger, error) {
	switch d := KernelDebugger(s); d {
	case "", DebuggerOff:
		return DebuggerOff, nil
	case DebuggerLoad, DebuggerBoot:
		return d, nil
	}
	return "", fmt.Errorf("kernel debugger %q: want off, load (-k) or boot (-kd)", s)
}

// Flags returns the kernel flags: "", "-k" or "-kd".
func (d KernelDebugger) Flags() string {
	switch d {
	case DebuggerLoad:
		return "-k"
	case DebuggerBoot:
		return "-kd"
	}
	return ""
}
