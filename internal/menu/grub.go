package menu

import (
	"fmt"
	"strings"
	"time"

	"rackboot/internal/pxe"
	"rackboot/internal/target"
)

// BuildGRUB returns the grub.cfg the signed GRUB of a Secure Boot machine
// runs: the same menu as its iPXE one (title, timeout, default, boot-once,
// as Options and the machine's settings say), with the items that can boot
// under Secure Boot: targets whose kernel is signed for the shim rackboot
// serves (target.GRUBTarget, offered to a Secure Boot client), then exit
// and reboot. Files are named from GRUB's root, the server its prefix is
// on ("(tftp,10.0.0.1)" for a PXE boot, "(http,...)" for an HTTP one).
func BuildGRUB(o Options, arch pxe.Arch, mac string) ([]byte, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	c := target.Client{Arch: arch, SecureBoot: true}
	p := plan{offered: map[string]bool{IDExit: true, IDReboot: true}, client: c, noBoot: true}
	var entries []target.GRUBTarget
	var notes []string
	for _, t := range o.Targets {
		gt, ok := t.(target.GRUBTarget)
		if err := t.Offered(c); err != nil || !ok {
			why := "cannot boot under Secure Boot"
			if err != nil {
				why = err.Error()
			}
			notes = append(notes, t.Title()+": "+why)
			continue
		}
		entries = append(entries, gt)
		p.offered[t.ID()] = true
	}
	def := o.pickDefault(p, arch, mac)
	title := o.Title
	if title == "" {
		title = "rackboot"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# rackboot menu for %s (%s, Secure Boot: shim, then this GRUB). Generated for each\n", canonicalMAC(mac), arch)
	b.WriteString("# request: change the rackboot configuration, not this file.\n")
	for _, n := range notes {
		fmt.Fprintf(&b, "# not offered: %s\n", oneLine(n))
	}
	fmt.Fprintf(&b, "set timeout=%d\n", grubTimeout(o.Timeout))
	fmt.Fprintf(&b, "set default=%s\n", def)
	fmt.Fprintf(&b, "echo %s\n", grubQuote(title))
	for _, t := range entries {
		fmt.Fprintf(&b, "\nmenuentry %s --id %s {\n", grubQuote(t.Title()), t.ID())
		fmt.Fprintf(&b, "\techo %s\n", grubQuote("Loading "+t.Title()+"..."))
		for _, l := range t.GRUB("") {
			fmt.Fprintf(&b, "\t%s\n", l)
		}
		b.WriteString("}\n")
	}
	b.WriteString("\nmenuentry 'Exit (boot the next device)' --id exit {\n\texit\n}\n")
	b.WriteString("\nmenuentry 'Reboot' --id reboot {\n\treboot\n}\n")
	return []byte(b.String()), nil
}

// grubTimeout is GRUB's timeout in whole seconds: -1 waits forever, 0 boots
// the default at once (as Options.Timeout's negative and zero do).
func grubTimeout(d time.Duration) int64 {
	switch {
	case d < 0:
		return -1
	case d == 0:
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// grubQuote quotes s as one GRUB word: single quotes keep everything but
// a single quote, written as '\” (GRUB's lexer reads quotes as sh does).
func grubQuote(s string) string {
	return "'" + strings.ReplaceAll(oneLine(s), "'", `'\''`) + "'"
}

// oneLine flattens s to one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
