package observe

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"rackboot/internal/dhcp"
	"rackboot/internal/events"
	"rackboot/internal/httpd"
	"rackboot/internal/menu"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
)

// bootToKernel powers a machine on through "its BMC" and takes it through
// a BIOS boot to "booted kernel".
func bootToKernel(t *testing.T, o *Observer, hw net.HardwareAddr, client netip.Addr, powerOn time.Time) {
	t.Helper()
	prefix := "smartos/" + testBuild + "/"
	o.PoweredOn(hw.String(), powerOn, "cycle", "power cycled")
	o.DHCP(dhcp.Event{Time: powerOn.Add(time.Second), MAC: hw, Type: "DISCOVER", IPXE: true, VendorClass: "PXEClient:Arch:00000:UNDI:002001"})
	o.MenuServed(menu.Served{Request: menu.Request{MAC: hw, Arch: pxe.ArchBIOS, Client: client}, Item: "smartos", Bytes: 100})
	for _, f := range []string{smartos.KernelFile, smartos.ArchiveFile, smartos.HashFile} {
		o.HTTP(httpd.FileEvent{Client: client, Path: prefix + f, Status: 200, Bytes: 4})
	}
	b, _ := o.Events.Boot(hw.String())
	if b.Result != "booted kernel" || b.Stages[0].Stage != events.StagePowerOn || b.Stages[1].Stage != events.StageIPXEDHCP {
		t.Fatalf("boot: %+v", b)
	}
}

func osUpObserver() *Observer {
	prefix := "smartos/" + testBuild + "/"
	return New(Options{Files: fstest.MapFS{
		prefix + smartos.KernelFile:  {Data: []byte("kern")},
		prefix + smartos.ArchiveFile: {Data: []byte("arch")},
		prefix + smartos.HashFile:    {Data: []byte("hash")},
	}})
}

// TestOSUpFromItsDHCP: after the kernel, the first DHCP from the MAC that
// is neither a PXE ROM's nor iPXE's marks the boot up, once, with the
// time from power-on; a PXE ROM's DHCP does not.
func TestOSUpFromItsDHCP(t *testing.T) {
	o := osUpObserver()
	defer o.Close()
	hw, _ := net.ParseMAC("52:54:00:12:34:56")
	client := netip.MustParseAddr("10.0.0.9")
	on := time.Now().Add(-40 * time.Second)
	bootToKernel(t, o, hw, client, on)

	// Another machine's DHCP, and a packet that is not a client's request.
	other, _ := net.ParseMAC("52:54:00:00:00:01")
	o.DHCP(dhcp.Event{Time: time.Now(), MAC: other, Type: "DISCOVER"})
	o.DHCP(dhcp.Event{Time: time.Now(), MAC: hw, Type: "RELEASE"})
	if b, _ := o.Events.Boot(hw.String()); b.Stage == events.StageUp {
		t.Fatal("up from a RELEASE")
	}
	at := on.Add(35 * time.Second)
	o.DHCP(dhcp.Event{Time: at, MAC: hw, Type: "DISCOVER", VendorClass: "dhcpcd-9.4.1:Linux"})
	o.DHCP(dhcp.Event{Time: at.Add(time.Second), MAC: hw, Type: "REQUEST", ClientIP: client})
	b, _ := o.Events.Boot(hw.String())
	if b.Result != "OS up" || b.Stage != events.StageUp || b.UpAfterMS != 35000 {
		t.Fatalf("after the OS's DHCP: %+v", b)
	}
	ups := 0
	for _, ev := range o.Events.Machine(hw.String()) {
		if ev.Type == events.TypeUp {
			ups++
			if ev.Via != "dhcp" || !strings.Contains(ev.Msg, "35s after power-on") {
				t.Errorf("up event: %+v", ev)
			}
		}
	}
	if ups != 1 {
		t.Errorf("%d up events, want 1", ups)
	}
}

// TestOSSilent: a boot whose OS stays silent past the limit is marked so;
// one that came up is not.
func TestOSSilent(t *testing.T) {
	o := osUpObserver()
	defer o.Close()
	hw, _ := net.ParseMAC("52:54:00:12:34:56")
	up, _ := net.ParseMAC("52:54:00:12:34:57")
	bootToKernel(t, o, hw, netip.MustParseAddr("10.0.0.9"), time.Now())
	bootToKernel(t, o, up, netip.MustParseAddr("10.0.0.10"), time.Now())
	o.DHCP(dhcp.Event{Time: time.Now(), MAC: up, Type: "DISCOVER"})
	o.markSilent(time.Now().Add(time.Minute), 2*time.Minute)
	if b, _ := o.Events.Boot(hw.String()); b.Result != "booted kernel" {
		t.Fatalf("silent too soon: %+v", b)
	}
	o.markSilent(time.Now().Add(3*time.Minute), 2*time.Minute)
	o.markSilent(time.Now().Add(4*time.Minute), 2*time.Minute)
	if b, _ := o.Events.Boot(hw.String()); b.Result != "OS silent" {
		t.Errorf("not marked silent: %+v", b)
	}
	if b, _ := o.Events.Boot(up.String()); b.Result != "OS up" {
		t.Errorf("an OS that came up: %+v", b)
	}
	n := 0
	for _, ev := range o.Events.Machine(hw.String()) {
		if ev.Type == events.TypeSilent {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d silent events, want 1", n)
	}
}
