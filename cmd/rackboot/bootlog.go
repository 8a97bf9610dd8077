package main

import (
	"errors"
	"io/fs"
	"log/slog"
	"net/netip"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/httpd"
	"rackboot/internal/tftp"
)

// bootLog writes one "boot step" line per file a machine fetched, naming the
// machine by the MAC the DHCP listener saw at that address, so that one grep
// for a MAC shows its whole boot: DHCP, TFTP, menu, kernel, archive.
type bootLog struct {
	log       *slog.Logger
	sightings *boot.Sightings
	machines  *machineServices // boot events, metrics; nil: log only
}

func (b bootLog) who(ip netip.Addr) []any {
	if s, ok := b.sightings.Lookup(ip); ok {
		return []any{"mac", s.MAC.String(), "arch", s.Arch.String()}
	}
	return []any{"mac", "unknown"}
}

func (b bootLog) tftp(t tftp.Transfer) {
	if b.machines != nil {
		b.machines.tftp(t)
	}
	if t.Err != nil && errors.Is(t.Err, fs.ErrNotExist) {
		return // firmware probing for optional files; the TFTP log has it
	}
	if errors.Is(t.Err, tftp.ErrOptionsDeclined) {
		return // a PXE ROM learning the size (tsize) before the real transfer
	}
	attrs := append(b.who(t.Client.Addr()), "via", "tftp", "client", t.Client.Addr(), "file", t.File,
		"bytes", t.Size, "blksize", t.BlockSize, "windowsize", t.WindowSize,
		"chain_script", t.Overridden, "duration", t.Duration.Round(time.Millisecond))
	if t.Err != nil {
		b.log.Warn("boot step failed", append(attrs, "err", t.Err)...)
		return
	}
	b.log.Info("boot step", attrs...)
}

func (b bootLog) http(e httpd.FileEvent) {
	if b.machines != nil {
		b.machines.httpFile(e)
	}
	attrs := append(b.who(e.Client), "via", "http", "client", e.Client, "file", e.Path,
		"status", e.Status, "bytes", e.Bytes, "duration", e.Duration.Round(time.Millisecond))
	b.log.Info("boot step", attrs...)
}
