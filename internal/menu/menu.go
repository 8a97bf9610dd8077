// Package menu turns the configuration, the platforms on disk and one client
// into the iPXE script that client runs: a menu of SmartOS builds (newest
// first, each also in noimport form) and utilities, with a default that
// boots by itself after a timeout.
//
// The script is written for machines nobody watches. Every command that can
// fail has a way out: a failed boot shows why, waits a little and returns to
// the menu, whose timeout then retries the default; Esc and the shell lead
// back to the menu with the countdown off, because someone is there.
package menu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"rackboot/internal/bootargs"
	"rackboot/internal/ipxe"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
	"rackboot/internal/target"
)

// Item ids besides the SmartOS ones (see SmartOSID). Ids are iPXE labels.
const (
	IDMemtest = "memtest"
	IDShell   = "shell"
	IDReboot  = "reboot"
	IDExit    = "exit"
	IDReload  = "reload"
	// Aliases accepted as Options.Default: the newest build offered.
	IDNewestSmartOS         = "smartos"
	IDNewestSmartOSNoImport = "smartos-noimport"
)

// SmartOSID is the item id that boots build; SmartOSNoImportID boots it
// without importing the zpool.
func SmartOSID(build string) string         { return target.SmartOSID(build) }
func SmartOSNoImportID(build string) string { return target.SmartOSNoImportID(build) }

// Options is everything about the menu that does not depend on the client.
type Options struct {
	Title string // "" gives "rackboot"
	// Timeout is how long the menu waits before booting the default item.
	// 0 boots the default at once (the menu only flashes: a failed boot
	// still leads back to it); a negative Timeout waits forever.
	Timeout time.Duration
	// Default is the item booted when the timeout expires: an item id, or
	// "smartos" / "smartos-noimport" for the newest build. "" is "smartos".
	// When it is not offered to this client (a removed build; SmartOS for a
	// UEFI client) the menu falls back to the newest SmartOS build, then to
	// "exit" (the local disk), and logs why.
	Default string
	// CatalogDefault, when Default is "", names the build to boot by
	// default: the platform catalog's choice, read for each menu so that
	// "rackboot platform default" takes effect at once. nil, "", or a build
	// not offered: the newest build.
	CatalogDefault func() string
	BaseURL        string        // "http://10.0.0.1:8080": every kernel and module URL is built from it
	Console        string        // SmartOS console=: text, ttya, ttyb, ttyc, ttyd or vga; "" is text
	OSConsole      string        // SmartOS os_console=, "" for none
	RootShadow     string        // SmartOS root_shadow; "" leaves the platform's own
	Standalone     bool          // standalone=true
	BootArgs       []bootargs.KV // extra -B properties, in this order
	// KernelDebugger puts kmdb's flags (-k, -kd) on every SmartOS kernel
	// line; the options menu starts from it.
	KernelDebugger smartos.KernelDebugger
	Memtest        map[pxe.Firmware]string // URL path below BaseURL of memtest86+ per firmware; "" or absent: none
	MenuURL        string                  // if set, a "Reload this menu" item fetches it again (new builds appear)
	// Targets are the configuration's boot targets (targets[]), listed
	// after the SmartOS builds in this order; each is offered where its
	// firmware support allows, and its id may be Default.
	Targets []target.Target
	DataDir string       // shown in the hint when there is no platform
	Log     *slog.Logger // nil: no logging
}

// timeoutSetting holds the menu timeout in the script, in iPXE's
// milliseconds (0 = forever), so that the shell can turn the countdown off.
const timeoutSetting = "menu-timeout"

// immediateMillis is the timeout for "boot the default at once". iPXE
// turns a timeout into ms*TICKS_PER_SEC/1000 timer ticks (parse_timeout in
// src/core/parseopt.c) and waits forever on 0 ticks, so 1 ms could mean
// forever; 100 ms is a tick at any tick rate of 10 Hz or more.
const immediateMillis = 100

// safeID is what a build name may look like to become part of an id.
var safeID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// urlPath is a relative URL path we are willing to put on a kernel line.
var urlPath = regexp.MustCompile(`^[A-Za-z0-9._~+-]+(/[A-Za-z0-9._~+-]+)*$`)

// Errors Check and Build return, for errors.Is; the error's own text says
// more.
var (
	// ErrUnknownDefault: the default item is not in the menu (a build not
	// imported yet, say); the menu falls back to the newest build.
	ErrUnknownDefault = errors.New("menu default is not a menu item")
	// ErrBootArgs: the SmartOS -B pairs would not boot.
	ErrBootArgs = errors.New("bad SmartOS boot arguments")
)

// kindError is an error that is also one of the sentinels above.
type kindError struct{ kind, err error }

func (e kindError) Error() string   { return e.err.Error() }
func (e kindError) Unwrap() []error { return []error{e.kind, e.err} }

// Check validates o against the platforms now on disk, for the caller to
// run at start: it fails where Build would, and also when Default names a
// build or item that does not exist.
func Check(o Options, platforms []smartos.Platform) error {
	if err := o.validate(); err != nil {
		return err
	}
	if o.Default == "" || o.Default == IDNewestSmartOS || o.Default == IDNewestSmartOSNoImport {
		return nil
	}
	valid := []string{IDShell, IDReboot, IDExit, IDNewestSmartOS, IDNewestSmartOSNoImport}
	for _, p := range platforms {
		valid = append(valid, SmartOSID(p.Build), SmartOSNoImportID(p.Build))
	}
	if o.Memtest[pxe.BIOS] != "" || o.Memtest[pxe.UEFI] != "" {
		valid = append(valid, IDMemtest)
	}
	for _, t := range o.Targets {
		valid = append(valid, t.ID())
	}
	for _, v := range valid {
		if v == o.Default {
			return nil
		}
	}
	return kindError{ErrUnknownDefault, fmt.Errorf("menu default %q is not a menu item; use one of: %s", o.Default, strings.Join(valid, ", "))}
}

// validate checks what does not depend on the platforms or the client.
func (o Options) validate() error {
	if err := checkBaseURL(o.BaseURL); err != nil {
		return err
	}
	if err := ipxe.New(ipxe.Menu{Title: o.Title}).Validate(); err != nil {
		return fmt.Errorf("menu title %q: %w", o.Title, err)
	}
	if err := o.bootArgs(false).Validate(); err != nil {
		return kindError{ErrBootArgs, fmt.Errorf("SmartOS boot arguments: %w", err)}
	}
	if _, err := smartos.ParseKernelDebugger(string(o.KernelDebugger)); err != nil {
		return err
	}
	for fw, p := range o.Memtest {
		if p != "" && (!urlPath.MatchString(strings.TrimPrefix(p, "/")) || strings.Contains("/"+p+"/", "/../")) {
			return fmt.Errorf("memtest path for %s %q: want a plain path below the base URL, like memtest/memtest86+x64.bin", fw, p)
		}
	}
	if o.MenuURL != "" {
		if err := ipxe.New(ipxe.Chain(o.MenuURL)).Validate(); err != nil {
			return fmt.Errorf("menu URL: %w", err)
		}
	}
	switch d := o.Default; {
	case d == IDReload:
		return errors.New("menu default \"reload\" would reload the menu forever; pick a boot item")
	case d == "", d == IDMemtest, d == IDShell, d == IDReboot, d == IDExit,
		d == IDNewestSmartOS, d == IDNewestSmartOSNoImport:
	case strings.HasPrefix(d, "smartos-") && safeID.MatchString(strings.TrimPrefix(d, "smartos-")):
	case o.target(d) != nil:
	default:
		ids := ""
		for _, t := range o.Targets {
			ids += t.ID() + ", "
		}
		return kindError{ErrUnknownDefault, fmt.Errorf("menu default %q is not an item id: use %ssmartos-<build>, smartos-<build>-noimport, smartos, smartos-noimport, memtest, shell, reboot or exit", d, ids)}
	}
	return nil
}

func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, " \t\n${}") {
		return fmt.Errorf("base URL %q: want an absolute http:// or https:// URL such as http://10.0.0.1:8080", s)
	}
	return nil
}

// bootArgs is the -B list of a SmartOS item.
func (o Options) bootArgs(noimport bool) smartos.BootArgs {
	return smartos.BootArgs{Console: o.console(), OSConsole: o.OSConsole, RootShadow: o.RootShadow,
		NoImport: noimport, Standalone: o.Standalone, Extra: o.BootArgs}
}

func (o Options) console() string {
	if o.Console == "" {
		return "text"
	}
	return o.Console
}

// kernelDebugger is the configured debugger setting, "" read as off.
func (o Options) kernelDebugger() smartos.KernelDebugger {
	d, _ := smartos.ParseKernelDebugger(string(o.KernelDebugger)) // validated
	return d
}

// kernelArgs are the kernel's arguments: kmdb's flags, then -B and the list.
func kernelArgs(flags, props string) []string {
	if flags == "" {
		return []string{"-B", props}
	}
	return []string{flags, "-B", props}
}

// timeoutMillis maps Options.Timeout to the menu-timeout setting.
func (o Options) timeoutMillis() int64 {
	switch {
	case o.Timeout < 0:
		return 0
	case o.Timeout == 0:
		return immediateMillis
	}
	return ipxe.Millis(o.Timeout)
}

func (o Options) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

// loader builds the targets' URLs from the base URL.
func (o Options) loader() target.Loader { return target.Loader{BaseURL: o.BaseURL} }

// url joins a path below the server root to the base URL.
func (o Options) url(p string) string { return o.loader().URL(p) }

// target is the configuration's target with this id, or nil.
func (o Options) target(id string) target.Target {
	for _, t := range o.Targets {
		if t.ID() == id {
			return t
		}
	}
	return nil
}

// canonicalMAC returns mac in the usual form, or "unknown".
func canonicalMAC(mac string) string {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return "unknown"
	}
	return hw.String()
}
