package observe

import (
	"net"
	"net/netip"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/events"
	"rackboot/internal/pxe"
)

// Remote takes a step another server observed (ev.Server set; from the
// shared timeline, internal/timeline) into this server's timeline. What
// names a machine travels with it: a DHCP DISCOVER or REQUEST, or a menu
// request, records the machine at its address in this server's sightings
// as if this server had seen it, so that this server's own TFTP and HTTP
// hooks name a machine whose DHCP went to the other server (and the loop
// breaker knows it runs iPXE). A sighting this server made of another
// machine at that address after the remote step is kept, and a step older
// than a sighting lives (a server starting reads the last hour back) names
// no one.
func (o *Observer) Remote(ev events.Event) {
	if !ev.Remote() {
		return // this server's own steps come through the hooks
	}
	o.sight(ev)
	o.Events.Publish(ev)
}

func (o *Observer) sight(ev events.Event) {
	switch {
	case ev.Type == events.TypeDHCP && (ev.DHCPType == "DISCOVER" || ev.DHCPType == "REQUEST"):
	case ev.Type == events.TypeMenu:
		ev.IPXE = true
	default:
		return
	}
	mac, err := net.ParseMAC(ev.MAC)
	if err != nil {
		return
	}
	ip, err := netip.ParseAddr(ev.IP)
	if err != nil || ip.IsUnspecified() {
		return
	}
	ttl := o.sightings.TTL
	if ttl <= 0 {
		ttl = boot.DefaultSightingTTL
	}
	if time.Since(ev.Time) > ttl {
		return // read back from the last hour at start: the address may be another's by now
	}
	if cur, ok := o.sightings.Lookup(ip); ok && cur.MAC.String() != ev.MAC && cur.Seen.After(ev.Time) {
		return
	}
	arch, _ := pxe.ParseArch(ev.Arch)                    // unknown when absent
	features, _ := pxe.ParseFeatureList(ev.IPXEFeatures) // none from an older server, or a name we do not know
	o.sightings.Record(ip, boot.Sighting{MAC: mac, Arch: arch, IPXE: ev.IPXE, Features: features})
}
