package observe

import (
	"context"
	"fmt"
	"time"

	"rackboot/internal/dhcp"
	"rackboot/internal/events"
)

// osUp marks a machine's boot up when the booted OS's own DHCP arrives:
// after a boot that got as far as its kernel, the first DHCP DISCOVER,
// REQUEST or INFORM from the same MAC that is neither a PXE ROM's nor
// iPXE's (NetBoot) is the OS configuring its network. Every DHCP mode
// sees it: the listener passes every packet to OnEvent, the ones it does
// not answer (proxy, off) included. A later renewal finds the boot up
// already and changes nothing.
func (o *Observer) osUp(ev dhcp.Event) {
	if len(ev.MAC) == 0 || NetBoot(ev) {
		return
	}
	switch ev.Type {
	case "DISCOVER", "REQUEST", "INFORM":
	default:
		return
	}
	msg := "OS up: its own DHCP " + ev.Type
	if ev.VendorClass != "" {
		msg += fmt.Sprintf(" (vendor class %q)", ev.VendorClass)
	}
	e := events.Event{Time: ev.Time, MAC: ev.MAC.String(), Type: events.TypeUp, Via: "dhcp", Msg: msg}
	if ev.ClientIP.IsValid() && !ev.ClientIP.IsUnspecified() {
		e.IP = ev.ClientIP.String()
	}
	out := o.Events.PublishIf(e, func(b events.Boot, ok bool) bool { return ok && b.UpCandidate() })
	if len(out) > 0 {
		up := out[len(out)-1]
		o.log.Info("OS up", "mac", up.MAC, "via", "dhcp", "dhcp_type", ev.Type, "vendor_class", ev.VendorClass,
			"up_after", time.Duration(up.UpAfterMS*float64(time.Millisecond)).Round(time.Millisecond))
	}
}

// PoweredOn is the BMC operator's OnPowerOn: rackboot powered the machine
// on (or cycled or reset it), and its next boot begins here, so that the
// boot's first stage is "power on" and time to OS up counts from it.
func (o *Observer) PoweredOn(mac string, at time.Time, action, done string) {
	o.Events.Publish(events.Event{Time: at, MAC: mac, Type: events.TypePower,
		Msg: fmt.Sprintf("power: %s through its BMC (%s)", done, action)})
}

// WatchSilence marks, until ctx ends, every boot whose kernel started more
// than after ago and whose OS was never seen (no DHCP of its own, no
// callback) as "OS silent". It checks a few times per after.
func (o *Observer) WatchSilence(ctx context.Context, after time.Duration) {
	if after <= 0 {
		return
	}
	tick := time.NewTicker(min(max(after/4, time.Second), 30*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			o.markSilent(now, after)
		}
	}
}

func (o *Observer) markSilent(now time.Time, after time.Duration) {
	for mac, b := range o.Events.Boots() {
		if !silent(b, now, after) {
			continue
		}
		number := b.Number
		o.Events.PublishIf(events.Event{Time: now, MAC: mac, Type: events.TypeSilent,
			Msg: fmt.Sprintf("OS silent: neither its own DHCP nor a callback %s after the kernel started", after)},
			func(cur events.Boot, ok bool) bool { return ok && cur.Number == number && silent(cur, now, after) })
	}
}

func silent(b events.Boot, now time.Time, after time.Duration) bool {
	return b.Finished && b.Result == "booted kernel" && now.Sub(b.Updated) > after
}
