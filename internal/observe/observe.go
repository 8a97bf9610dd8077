// Package observe turns what the boot protocols report into a boot
// timeline: a log line per boot step, metrics, and an events.Event per
// step, naming the machine (by the MAC of its menu request, or of the DHCP
// sighting at its address). It has one hook per protocol; they run on the
// protocols' goroutines and never touch the disk: they publish to the
// in-memory events.Log, and the machines.Recorder writes the registry on
// its own goroutine.
package observe

import (
	"context"
	"io/fs"
	"log/slog"
	"net/netip"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/events"
	"rackboot/internal/machines"
	"rackboot/internal/metrics"
	"rackboot/internal/target"
)

// Options are what an Observer is built from.
type Options struct {
	Log       *slog.Logger
	Version   string          // for rackboot_build_info
	Sightings *boot.Sightings // who is at which address, from DHCP and menu requests
	Files     fs.FS           // what HTTP serves: file sizes, and whether a hash is there
	// Registry, when set, gets every event written to it in batches by a
	// machines.Recorder until Close; nil: events stay in memory.
	Registry *machines.Registry
	// Targets names the boot targets' kernels and initrds by served name,
	// so that their boots reach the kernel and archive stages too.
	Targets target.Timeline
}

// Observer is the boot timeline: Events and Metrics, fed by its hooks
// (DHCP, TFTP, HTTP, HTTPProgress, MenuServed).
type Observer struct {
	Events  *events.Log
	Metrics *metrics.Metrics

	log       *slog.Logger
	sightings *boot.Sightings
	files     fs.FS
	targets   target.Timeline
	recorded  chan struct{} // closed when the Recorder has written its last batch
}

// New returns an Observer, with its recorder running if o.Registry is set.
func New(o Options) *Observer {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ob := &Observer{log: log.With("svc", "boot"), sightings: o.Sightings, files: o.Files, targets: o.Targets, recorded: make(chan struct{})}
	if ob.sightings == nil {
		ob.sightings = new(boot.Sightings)
	}
	ob.Events = events.NewLog(events.Options{OnBootEnd: ob.bootEnded})
	ob.Metrics = metrics.New(o.Version, ob.Events.InProgress)
	if o.Registry == nil {
		close(ob.recorded)
		return ob
	}
	rec := &machines.Recorder{Registry: o.Registry, Logger: ob.log}
	sub := ob.Events.Subscribe("", 16384)
	own := make(chan events.Event, 1024)
	go func() {
		// The registry gets this server's own events only: another
		// server's (Event.Server set, from the shared timeline) are
		// recorded by that server, in the same shared registry.
		defer close(own)
		for ev := range sub.C {
			if !ev.Remote() {
				own <- ev
			}
		}
	}()
	go func() {
		defer close(ob.recorded)
		// It ends when Close closes the log: the subscription ends and the
		// recorder writes what it holds.
		rec.Run(context.Background(), own)
		sub.Close()
	}()
	return ob
}

// Close ends the timeline: live subscribers are let go, and the recorder
// writes its last batch before Close returns (so before the store closes).
func (o *Observer) Close() {
	o.Events.Close()
	<-o.recorded
}

func (o *Observer) bootEnded(b events.Boot) {
	o.Metrics.BootEnded(b)
	if b.Result == "OS up" && b.UpAfterMS > 0 {
		o.Metrics.OSUp(b.UpAfterMS / 1000)
	}
	slowest, took := b.Slowest()
	o.log.Info("boot ended", "mac", b.MAC, "result", b.Result, "stage", b.Stage, "duration", b.Duration().Round(time.Millisecond),
		"slowest_stage", slowest, "slowest_took", took.Round(time.Millisecond), "bytes", b.Bytes)
	if refusedIPXE(b) {
		o.log.Warn("this UEFI machine fetched iPXE and started over without running it: Secure Boot refuses an unsigned iPXE",
			"mac", b.MAC, "hint", "rackboot machines set "+b.MAC+" --secure-boot yes (it then gets the distribution's signed shim and GRUB)")
	}
}

// refusedIPXE: what a UEFI x86_64 machine with Secure Boot on looks like
// when given an unsigned iPXE (OVMF with Microsoft's keys, measured by
// e2e TestSecureBoot): it fetches the build in full, its firmware refuses
// to start it ("Access Denied"), and it starts over with its next boot
// option (PXE over IPv6, then HTTP boot), asking for iPXE again, never
// running it. So the boot ends abandoned at the nbp stage. rackboot does
// not switch such a machine to the signed chain by itself (a NIC whose
// iPXE driver fails looks alike): it says so, once per boot.
func refusedIPXE(b events.Boot) bool {
	return b.Result == "abandoned" && b.Stage == events.StageNBP && b.Arch == "efi-x86_64"
}

// who names the machine at a client address, from what DHCP (or its menu
// request) showed there.
func (o *Observer) who(ip netip.Addr) (mac, arch string) {
	if s, ok := o.sightings.Lookup(ip); ok {
		return s.MAC.String(), s.Arch.String()
	}
	return "", ""
}

// whoAttrs is who as log attributes.
func (o *Observer) whoAttrs(ip netip.Addr) []any {
	if mac, arch := o.who(ip); mac != "" {
		return []any{"mac", mac, "arch", arch}
	}
	return []any{"mac", "unknown"}
}
