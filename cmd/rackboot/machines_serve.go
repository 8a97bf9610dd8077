package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"rackboot/internal/bootargs"
	"strings"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/config"
	"rackboot/internal/dhcp"
	"rackboot/internal/events"
	"rackboot/internal/httpd"
	"rackboot/internal/machines"
	"rackboot/internal/metrics"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
	"rackboot/internal/tftp"
)

// machineServices turns what the boot protocols report into boot events,
// metrics and registry entries, and gives each machine its own menu. Its
// event handlers run on the protocols' goroutines: they only publish to the
// in-memory events.Log and count, never touching the disk (the Recorder
// writes the registry on its own goroutine).
type machineServices struct {
	log       *slog.Logger
	events    *events.Log
	metrics   *metrics.Metrics
	sightings *boot.Sightings
	files     fs.FS // what HTTP serves: file sizes, and whether a hash is there
	rules     []machines.Rule
	registry  *machines.Registry // nil until the store is open (and in `rackboot menu`)
	recorded  chan struct{}      // closed when the Recorder has written its last batch
}

func newMachineServices(cfg config.Config, log *slog.Logger, sightings *boot.Sightings, files fs.FS) (*machineServices, error) {
	rules, err := machineRules(cfg.Machines.Rules)
	if err != nil {
		return nil, err
	}
	m := &machineServices{log: log.With("svc", "boot"), sightings: sightings, files: files, rules: rules}
	m.events = events.NewLog(events.Options{OnBootEnd: m.bootEnded})
	m.metrics = metrics.New(version, m.events.InProgress)
	return m, nil
}

// machineRules turns the configuration's rules into the registry's,
// hashing root passwords once at start.
func machineRules(in []config.MachineRule) ([]machines.Rule, error) {
	var out []machines.Rule
	for i, r := range in {
		mr := machines.Rule{Name: r.Name, MACPrefix: strings.ToLower(r.MACPrefix), Labels: r.Labels,
			Settings: machines.Settings{Default: r.Default, RootShadow: r.RootShadow, SkipMenu: r.SkipMenu}}
		for _, kv := range r.BootArgs {
			mr.BootArgs = append(mr.BootArgs, bootargs.KV{Key: kv.Key, Value: kv.Value})
		}
		if r.RootPassword != "" {
			h, err := smartos.HashPassword(r.RootPassword)
			if err != nil {
				return nil, fmt.Errorf("machines.rules[%d].root_password: %w", i, err)
			}
			mr.RootShadow = h
		}
		if err := mr.Validate(); err != nil {
			return nil, fmt.Errorf("machines.rules[%d]: %w", i, err)
		}
		out = append(out, mr)
	}
	return out, nil
}

// startRecorder opens the registry on st and writes boot events to it until
// ctx ends; wait returns when the last batch is written.
func (m *machineServices) startRecorder(ctx context.Context, reg *machines.Registry) (wait func()) {
	m.registry = reg
	rec := &machines.Recorder{Registry: reg, Logger: m.log}
	sub := m.events.Subscribe("", 16384)
	m.recorded = make(chan struct{})
	go func() {
		defer close(m.recorded)
		rec.Run(ctx, sub.C)
		sub.Close()
	}()
	return func() { <-m.recorded }
}

func (m *machineServices) bootEnded(b events.Boot) {
	m.metrics.BootEnded(b)
	slowest, took := b.Slowest()
	m.log.Info("boot ended", "mac", b.MAC, "result", b.Result, "stage", b.Stage, "duration", b.Duration().Round(time.Millisecond),
		"slowest_stage", slowest, "slowest_took", took.Round(time.Millisecond), "bytes", b.Bytes)
}

// who names the machine at a client address, from what DHCP saw there.
func (m *machineServices) who(ip netip.Addr) (mac, arch string) {
	if s, ok := m.sightings.Lookup(ip); ok {
		return s.MAC.String(), s.Arch.String()
	}
	return "", ""
}

// dhcp is the DHCP server's OnEvent.
func (m *machineServices) dhcp(ev dhcp.Event) {
	m.metrics.DHCP(ev.Type, string(ev.Outcome))
	vc := ev.VendorClass
	netboot := ev.IPXE || strings.HasPrefix(vc, "PXEClient") || strings.HasPrefix(vc, "HTTPClient")
	if len(ev.MAC) == 0 || !netboot {
		return
	}
	e := events.Event{Time: ev.Time, MAC: ev.MAC.String(), Type: events.TypeDHCP, DHCPType: ev.Type,
		Outcome: string(ev.Outcome), IPXE: ev.IPXE, BootFile: ev.BootFile, VendorClass: vc}
	if ev.Arch != pxe.ArchUnknown {
		e.Arch = ev.Arch.String()
	}
	if ev.ClientIP.IsValid() && !ev.ClientIP.IsUnspecified() {
		e.IP = ev.ClientIP.String()
	}
	if len(ev.UUID) > 1 {
		e.UUID = hex.EncodeToString(ev.UUID[1:]) // the first byte is the type (0)
	}
	who := "PXE ROM"
	if ev.IPXE {
		who = "iPXE"
	}
	switch ev.Outcome {
	case dhcp.Answered:
		e.Msg = fmt.Sprintf("DHCP %s from %s: answered with %s", ev.Type, who, ev.BootFile)
	default:
		e.Msg = fmt.Sprintf("DHCP %s from %s: %s (%s)", ev.Type, who, ev.Outcome, ev.Reason)
	}
	m.events.Publish(e)
}

// tftp is the TFTP server's OnTransfer.
func (m *machineServices) tftp(t tftp.Transfer) {
	result := "ok"
	switch {
	case t.Err != nil && errors.Is(t.Err, fs.ErrNotExist):
		m.metrics.TFTP("missing", 0)
		return // firmware probing for optional files
	case t.Err != nil:
		result = "error"
	}
	m.metrics.TFTP(result, t.Size)
	mac, arch := m.who(t.Client.Addr())
	kind := fileKind(t.File)
	if t.Overridden || isNBP(t.File) {
		kind = events.KindNBP
	}
	e := events.Event{Time: t.Start.Add(t.Duration), MAC: mac, Arch: arch, IP: t.Client.Addr().String(), Type: events.TypeTFTP,
		File: t.File, Kind: kind, Bytes: t.Size, BlockSize: t.BlockSize, WindowSize: t.WindowSize,
		DurationMS: events.Millis(t.Duration)}
	what := t.File
	if t.Overridden {
		what += " (a chain script: iPXE already runs)"
	}
	e.Msg = fmt.Sprintf("TFTP %s: %s in %s (blksize %d, windowsize %d)", what, sizeString(t.Size),
		t.Duration.Round(time.Millisecond), t.BlockSize, max(t.WindowSize, 1))
	if t.Err != nil {
		e.Err = t.Err.Error()
		e.Msg = fmt.Sprintf("TFTP %s failed after %s: %v", t.File, sizeString(t.Size), t.Err)
	}
	m.events.Publish(e)
}

// httpFile is the HTTP server's OnFile.
func (m *machineServices) httpFile(f httpd.FileEvent) {
	kind := fileKind(f.Path)
	m.metrics.HTTP(kind, f.Status, f.Bytes)
	mac, arch := m.who(f.Client)
	e := events.Event{Time: time.Now(), MAC: mac, Arch: arch, IP: f.Client.String(), Type: events.TypeHTTP,
		File: f.Path, Kind: kind, Bytes: f.Bytes, Status: f.Status, DurationMS: events.Millis(f.Duration)}
	if fi, err := fs.Stat(m.files, f.Path); err == nil && f.Status == 200 {
		e.Total = fi.Size()
	}
	if kind == events.KindKernel {
		e.Needs = m.kernelNeeds(f.Path)
	}
	e.Msg = fmt.Sprintf("HTTP %s: %s in %s (%s)", f.Path, sizeString(f.Bytes), f.Duration.Round(time.Millisecond), rate(f.Bytes, f.Duration))
	switch {
	case f.Status >= 400:
		e.Err = fmt.Sprintf("HTTP status %d", f.Status)
		e.Msg = fmt.Sprintf("HTTP %s: status %d", f.Path, f.Status)
	case e.Total > 0 && f.Bytes < e.Total:
		e.Err = "download cut short"
		e.Msg = fmt.Sprintf("HTTP %s cut short: %s of %s", f.Path, sizeString(f.Bytes), sizeString(e.Total))
	}
	m.events.Publish(e)
}

// httpProgress is the HTTP server's OnProgress.
func (m *machineServices) httpProgress(p httpd.FileProgress) {
	mac, _ := m.who(p.Client)
	m.events.Publish(events.Event{MAC: mac, IP: p.Client.String(), Type: events.TypeProgress, File: p.Path,
		Kind: fileKind(p.Path), Bytes: p.Bytes, Total: p.Total, DurationMS: events.Millis(p.Elapsed),
		Msg: fmt.Sprintf("HTTP %s: %s of %s (%s)", p.Path, sizeString(p.Bytes), sizeString(p.Total), rate(p.Bytes, p.Elapsed))})
}

// kernelNeeds lists the files a SmartOS kernel is started with: its boot
// archive and, when the platform has one, the archive's hash.
func (m *machineServices) kernelNeeds(kernel string) []string {
	prefix, ok := strings.CutSuffix(kernel, smartos.KernelFile)
	if !ok {
		return nil // memtest86+ and friends start alone
	}
	needs := []string{prefix + smartos.ArchiveFile}
	if _, err := fs.Stat(m.files, prefix+smartos.HashFile); err == nil {
		needs = append(needs, prefix+smartos.HashFile)
	}
	return needs
}

// fileKind sorts a served path for events and metrics.
func fileKind(p string) string {
	switch {
	case strings.HasSuffix(p, "/"+smartos.KernelFile), strings.HasPrefix(p, "memtest/"):
		return events.KindKernel
	case strings.HasSuffix(p, "/"+smartos.ArchiveFile):
		return events.KindArchive
	case strings.HasSuffix(p, "/"+smartos.HashFile):
		return events.KindHash
	case isNBP(p):
		return events.KindNBP
	}
	return events.KindOther
}

// isNBP reports whether p is one of the iPXE builds handed to firmware.
func isNBP(p string) bool {
	for _, a := range []pxe.Arch{pxe.ArchBIOS, pxe.ArchEFIx8664, pxe.ArchEFIi386, pxe.ArchEFIARM64, pxe.ArchEFIARM32} {
		for _, f := range pxe.BootFiles(a) {
			if f == p {
				return true
			}
		}
	}
	return false
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return sizeString(int64(float64(n)/d.Seconds())) + "/s"
}
