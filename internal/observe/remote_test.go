package observe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/events"
	"rackboot/internal/httpd"
	"rackboot/internal/machines"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
	"rackboot/internal/store/boltstore"
)

// TestRemoteSightingNames: another server saw the machine's DHCP; this
// server's HTTP hook names the machine by its address.
func TestRemoteSightingNames(t *testing.T) {
	kernel := "smartos/" + testBuild + "/" + smartos.KernelFile
	sightings := new(boot.Sightings)
	o := New(Options{Sightings: sightings, Files: fstest.MapFS{kernel: {Data: []byte("kernel")}}})
	defer o.Close()
	const mac = "52:54:00:aa:00:01"
	client := netip.MustParseAddr("127.0.0.9")
	o.Remote(events.Event{Time: time.Now(), MAC: mac, Type: events.TypeDHCP, DHCPType: "REQUEST", IPXE: true,
		IP: client.String(), Arch: "bios", Server: "a"})
	s, ok := sightings.Lookup(client)
	if !ok || s.MAC.String() != mac || !s.IPXE || s.Arch != pxe.ArchBIOS {
		t.Fatalf("sighting %+v, %v", s, ok)
	}
	o.HTTP(httpd.FileEvent{Client: client, Path: kernel, Status: 200, Bytes: 6})
	evs := o.Events.Machine(mac)
	if len(evs) != 2 || evs[1].Type != events.TypeHTTP || evs[1].Server != "" || evs[0].Server != "a" {
		t.Fatalf("events %+v", evs)
	}
	if b, _ := o.Events.Boot(mac); b.Number != 1 || b.Stage != events.StageKernel {
		t.Errorf("boot %+v", b)
	}

	// A later sighting of another machine at that address, made here,
	// is not replaced by an older remote one.
	other, _ := net.ParseMAC("52:54:00:aa:00:02")
	sightings.Record(client, boot.Sighting{MAC: other})
	o.Remote(events.Event{Time: time.Now().Add(-time.Minute), MAC: mac, Type: events.TypeDHCP, DHCPType: "DISCOVER",
		IP: client.String(), Server: "a"})
	if s, _ := sightings.Lookup(client); s.MAC.String() != other.String() {
		t.Errorf("an older remote sighting replaced this server's newer one: %s", s.MAC)
	}
	// A step older than a sighting lives names no one.
	old := netip.MustParseAddr("127.0.0.10")
	o.Remote(events.Event{Time: time.Now().Add(-time.Hour), MAC: mac, Type: events.TypeDHCP, DHCPType: "REQUEST",
		IP: old.String(), Server: "a"})
	if s, ok := sightings.Lookup(old); ok {
		t.Errorf("an hour-old remote step was recorded as a sighting: %+v", s)
	}
	// Its own events do not come this way.
	n := len(o.Events.Machine(mac))
	o.Remote(events.Event{MAC: mac, Type: events.TypeMenu})
	if len(o.Events.Machine(mac)) != n {
		t.Error("Remote took an event without a server")
	}
}

// TestRemoteNotRecorded: the registry gets this server's own events; the
// server that saw a remote one records it.
func TestRemoteNotRecorded(t *testing.T) {
	dir := t.TempDir()
	st, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	o := New(Options{Files: os.DirFS(dir), Registry: &machines.Registry{Store: st}})
	o.Remote(events.Event{Time: time.Now(), MAC: "52:54:00:00:00:02", Type: events.TypeDHCP, Arch: "bios", Server: "a"})
	o.Events.Publish(events.Event{MAC: "52:54:00:00:00:01", Type: events.TypeDHCP, Arch: "bios"})
	o.Close()
	reg := &machines.Registry{Store: st}
	if _, err := reg.Get(context.Background(), "52:54:00:00:00:01"); err != nil {
		t.Errorf("own event not recorded: %v", err)
	}
	if _, err := reg.Get(context.Background(), "52:54:00:00:00:02"); !errors.Is(err, machines.ErrNotFound) {
		t.Errorf("remote event recorded here: %v", err)
	}
}
