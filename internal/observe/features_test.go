package observe

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/dhcp"
	"rackboot/internal/events"
	"rackboot/internal/pxe"
)

// iPXE's feature flags go from a DHCP event into the machine's events, and
// from another server's event into this server's sightings (whose chain
// script then names them in the menu URL).
func TestIPXEFeaturesEvents(t *testing.T) {
	sightings := new(boot.Sightings)
	o := New(Options{Sightings: sightings})
	defer o.Close()
	mac := net.HardwareAddr{0x52, 0x54, 0, 0xaa, 0, 2}
	mb2 := pxe.NewFeatures(pxe.FeatureHTTP, pxe.FeatureEFI, pxe.FeatureMultiboot2)
	o.DHCP(dhcp.Event{Time: time.Now(), Type: "REQUEST", MAC: mac, Arch: pxe.ArchEFIx8664, IPXE: true, Features: mb2, Outcome: dhcp.Answered})
	evs := o.Events.Machine(mac.String())
	if len(evs) != 1 || evs[0].IPXEFeatures != "http,efi,multiboot2" {
		t.Fatalf("events %+v", evs)
	}
	client := netip.MustParseAddr("127.0.0.10")
	o.Remote(events.Event{Time: time.Now(), MAC: "52:54:00:aa:00:03", Type: events.TypeDHCP, DHCPType: "REQUEST", IPXE: true,
		IPXEFeatures: "http,efi,multiboot2", IP: client.String(), Arch: "efi-x86_64", Server: "a"})
	if s, ok := sightings.Lookup(client); !ok || s.Features != mb2 {
		t.Errorf("sighting %+v, %v", s, ok)
	}
}
