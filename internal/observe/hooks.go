package observe

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/dhcp"
	"rackboot/internal/events"
	"rackboot/internal/httpd"
	"rackboot/internal/menu"
	"rackboot/internal/progress"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
	"rackboot/internal/tftp"
)

// NetBoot reports whether a DHCP event came from a network-boot client:
// iPXE, or firmware whose vendor class is PXEClient or HTTPClient.
func NetBoot(ev dhcp.Event) bool {
	return ev.IPXE || strings.HasPrefix(ev.VendorClass, "PXEClient") || strings.HasPrefix(ev.VendorClass, "HTTPClient")
}

// DHCP is the DHCP server's OnEvent.
func (o *Observer) DHCP(ev dhcp.Event) {
	o.Metrics.DHCP(ev.Type, string(ev.Outcome))
	if len(ev.MAC) == 0 || !NetBoot(ev) {
		o.osUp(ev) // osup.go
		return
	}
	e := events.Event{Time: ev.Time, MAC: ev.MAC.String(), Type: events.TypeDHCP, DHCPType: ev.Type,
		Outcome: string(ev.Outcome), IPXE: ev.IPXE, IPXEFeatures: ev.Features.String(), BootFile: ev.BootFile, VendorClass: ev.VendorClass}
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
	o.Events.Publish(e)
}

// TFTP is the TFTP server's OnTransfer.
func (o *Observer) TFTP(t tftp.Transfer) {
	o.tftpEvent(t)
	if t.Err != nil && errors.Is(t.Err, fs.ErrNotExist) {
		return // firmware probing for optional files; the TFTP log has it
	}
	if errors.Is(t.Err, tftp.ErrOptionsDeclined) {
		return // a PXE ROM learning the size (tsize) before the real transfer
	}
	attrs := append(o.whoAttrs(t.Client.Addr()), "via", "tftp", "client", t.Client.Addr(), "file", t.File,
		"bytes", t.Size, "blksize", t.BlockSize, "windowsize", t.WindowSize,
		"chain_script", t.Overridden, "duration", t.Duration.Round(time.Millisecond))
	if t.Err != nil {
		o.log.Warn("boot step failed", append(attrs, "err", t.Err)...)
		return
	}
	o.log.Info("boot step", attrs...)
}

func (o *Observer) tftpEvent(t tftp.Transfer) {
	result := "ok"
	switch {
	case t.Err != nil && errors.Is(t.Err, fs.ErrNotExist):
		o.Metrics.TFTP("missing", 0)
		return // firmware probing for optional files
	case t.Err != nil:
		result = "error"
	}
	o.Metrics.TFTP(result, t.Size)
	mac, arch := o.who(t.Client.Addr())
	kind := o.fileKind(t.File)
	if t.Overridden {
		kind = events.KindNBP
	}
	e := events.Event{Time: t.Start.Add(t.Duration), MAC: mac, Arch: arch, IP: t.Client.Addr().String(), Type: events.TypeTFTP,
		File: t.File, Kind: kind, Bytes: t.Size, BlockSize: t.BlockSize, WindowSize: t.WindowSize,
		DurationMS: events.Millis(t.Duration)}
	if kind == events.KindKernel {
		e.Needs = o.kernelNeeds(t.File)
	}
	what := t.File
	if t.Overridden {
		what += " (a chain script: iPXE already runs)"
	}
	e.Msg = fmt.Sprintf("TFTP %s: %s in %s (blksize %d, windowsize %d)", what, progress.Bytes(t.Size),
		t.Duration.Round(time.Millisecond), t.BlockSize, max(t.WindowSize, 1))
	if t.Err != nil {
		e.Err = t.Err.Error()
		e.Msg = fmt.Sprintf("TFTP %s failed after %s: %v", t.File, progress.Bytes(t.Size), t.Err)
	}
	o.Events.Publish(e)
}

// HTTP is the HTTP server's OnFile.
func (o *Observer) HTTP(f httpd.FileEvent) {
	if peerSync(f.UserAgent) {
		// Another server of the cluster copying a platform: not a boot.
		o.Metrics.HTTP("sync", f.Status, f.Bytes)
		o.log.Debug("platform sync", "client", f.Client, "agent", f.UserAgent, "file", f.Path, "status", f.Status, "bytes", f.Bytes)
		return
	}
	o.httpEvent(f)
	attrs := append(o.whoAttrs(f.Client), "via", "http", "client", f.Client, "file", f.Path,
		"status", f.Status, "bytes", f.Bytes, "duration", f.Duration.Round(time.Millisecond))
	o.log.Info("boot step", attrs...)
}

func (o *Observer) httpEvent(f httpd.FileEvent) {
	kind := o.fileKind(f.Path)
	o.Metrics.HTTP(kind, f.Status, f.Bytes)
	mac, arch := o.who(f.Client)
	e := events.Event{Time: time.Now(), MAC: mac, Arch: arch, IP: f.Client.String(), Type: events.TypeHTTP,
		File: f.Path, Kind: kind, Bytes: f.Bytes, Status: f.Status, DurationMS: events.Millis(f.Duration)}
	if f.Status == 200 {
		e.Total = f.Size
	}
	if kind == events.KindKernel {
		e.Needs = o.kernelNeeds(f.Path)
	}
	e.Msg = fmt.Sprintf("HTTP %s: %s in %s (%s)", f.Path, progress.Bytes(f.Bytes), f.Duration.Round(time.Millisecond), rate(f.Bytes, f.Duration))
	switch {
	case f.Status >= 400:
		e.Err = fmt.Sprintf("HTTP status %d", f.Status)
		e.Msg = fmt.Sprintf("HTTP %s: status %d", f.Path, f.Status)
	case e.Total > 0 && f.Bytes < e.Total:
		e.Err = "download cut short"
		e.Msg = fmt.Sprintf("HTTP %s cut short: %s of %s", f.Path, progress.Bytes(f.Bytes), progress.Bytes(e.Total))
	}
	o.Events.Publish(e)
}

// HTTPProgress is the HTTP server's OnProgress.
func (o *Observer) HTTPProgress(p httpd.FileProgress) {
	if peerSync(p.UserAgent) {
		return
	}
	mac, _ := o.who(p.Client)
	o.Events.Publish(events.Event{MAC: mac, IP: p.Client.String(), Type: events.TypeProgress, File: p.Path,
		Kind: fileKind(p.Path), Bytes: p.Bytes, Total: p.Total, DurationMS: events.Millis(p.Elapsed),
		Msg: fmt.Sprintf("HTTP %s: %s of %s (%s)", p.Path, progress.Bytes(p.Bytes), progress.Bytes(p.Total), rate(p.Bytes, p.Elapsed))})
}

// MenuServed is the menu renderer's OnServed.
func (o *Observer) MenuServed(s menu.Served) {
	o.Metrics.HTTP(events.KindMenu, 200, int64(s.Bytes))
	ip := ""
	if s.Client.IsValid() {
		// The menu request names its MAC: later files from this address
		// are this machine's even if its DHCP went unseen.
		o.sightings.Record(s.Client, boot.Sighting{MAC: s.MAC, Arch: s.Arch, IPXE: true, Features: s.Features})
		ip = s.Client.String()
	}
	msg := "menu served: default " + s.Item
	if s.BootOnce {
		msg += " (boot-once, now consumed)"
	}
	if s.SkipMenu {
		msg += ", booted at once"
	}
	o.Events.Publish(events.Event{Time: time.Now(), MAC: s.MAC.String(), Type: events.TypeMenu, Arch: s.Arch.String(), IP: ip,
		Kind: events.KindMenu, Bytes: int64(s.Bytes), Item: s.Item, BootOnce: s.BootOnce, SkipMenu: s.SkipMenu, Msg: msg})
}

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return progress.Bytes(int64(float64(n)/d.Seconds())) + "/s"
}

// peerSync reports whether a request came from another rackboot's platform
// Syncer. Anyone may send that User-Agent; all it earns is not to be shown
// as a boot.
func peerSync(userAgent string) bool {
	return strings.HasPrefix(userAgent, smartos.SyncUserAgent)
}
