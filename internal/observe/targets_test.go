package observe

import (
	"net"
	"net/netip"
	"testing"
	"testing/fstest"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/events"
	"rackboot/internal/httpd"
	"rackboot/internal/menu"
	"rackboot/internal/pxe"
	"rackboot/internal/target"
	"rackboot/internal/tftp"
)

// A linux target's boot reaches "booted kernel" when its kernel and every
// initrd are in: over HTTP from iPXE, and over TFTP from a Secure Boot
// machine's GRUB.
func TestTargetFileEvents(t *testing.T) {
	tl := target.Timeline{
		"targets/d/linux":     {Role: target.RoleKernel, Needs: []string{"targets/d/initrd.gz"}},
		"targets/d/initrd.gz": {Role: target.RoleInitrd},
	}
	files := fstest.MapFS{"targets/d/linux": {Data: []byte("kernel")}, "targets/d/initrd.gz": {Data: make([]byte, 100)}}
	hw, _ := net.ParseMAC("52:54:00:12:34:56")
	client := netip.MustParseAddr("10.0.0.9")

	o := New(Options{Files: files, Targets: tl})
	defer o.Close()
	o.MenuServed(menu.Served{Request: menu.Request{MAC: hw, Arch: pxe.ArchEFIx8664, Client: client}, Item: "d", Bytes: 100})
	o.HTTP(httpd.FileEvent{Client: client, Path: "targets/d/linux", Status: 200, Bytes: 6})
	if b, _ := o.Events.Boot(hw.String()); b.Stage != events.StageKernel || b.Finished {
		t.Fatalf("kernel only: %+v", b)
	}
	o.HTTP(httpd.FileEvent{Client: client, Path: "targets/d/initrd.gz", Status: 200, Bytes: 100})
	if b, _ := o.Events.Boot(hw.String()); b.Stage != events.StageBootedKernel {
		t.Errorf("with its initrd: %+v", b)
	}

	// Over TFTP: the machine is named by its DHCP sighting.
	sightings := new(boot.Sightings)
	sightings.Record(client, boot.Sighting{MAC: hw, Arch: pxe.ArchEFIx8664})
	o2 := New(Options{Files: files, Targets: tl, Sightings: sightings})
	defer o2.Close()
	for _, f := range []string{"targets/d/linux", "targets/d/initrd.gz"} {
		o2.TFTP(tftp.Transfer{Client: netip.AddrPortFrom(client, 1000), File: f, Size: 6, Start: time.Now()})
	}
	if b, _ := o2.Events.Boot(hw.String()); b.Stage != events.StageBootedKernel {
		t.Errorf("over TFTP: %+v", b)
	}
}
