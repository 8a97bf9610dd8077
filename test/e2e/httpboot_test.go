package e2e_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"rackboot/internal/dhcp4"
	"rackboot/test/e2e"
)

// TestUEFIHTTPBoot: an OVMF machine whose PXE boot options are off (fw_cfg,
// see e2e.OVMFNoPXE) boots through UEFI HTTP boot, no TFTP involved:
//
//   - proxy: beside a plain DHCP server (the address), rackboot's proxyDHCP
//     answers the firmware's "HTTPClient:Arch:00016" DISCOVER with vendor
//     class HTTPClient and the URL of snponly.efi;
//   - full: rackboot is the DHCP server and puts that URL in its offer.
//
// EDK2's HttpBootDxe downloads snponly.efi from rackboot's HTTP server; iPXE
// then DHCPs, fetches the menu, and the menu's default starts memtest86+.
func TestUEFIHTTPBoot(t *testing.T) {
	t.Parallel()
	e2e.RequireFiles(t, "/boot/memtest86+x64.efi")
	for _, mode := range []string{"proxy", "full"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, bootTimeout)
			var l *e2e.Lab
			if mode == "proxy" {
				l = newRackbootLab(t, "proxy", plainDHCP, configFor("memtest")).Lab
			} else {
				l = newFullModeLab(t, configFor("memtest"))
			}
			vm := l.BootUEFIHTTP(ctx, t, "uefi-http-"+mode)
			waitMemtest(ctx, t, vm)
			checkNoLoop(t, vm, 1)
			checkHTTPBoot(t, l, vm)
		})
	}
}

// newFullModeLab is a lab whose only DHCP server is rackboot (dhcp.mode full,
// pool .100–.199), serving two SmartOS platforms like newRackbootLab's.
func newFullModeLab(t *testing.T, cfg e2e.RackbootConfig) *e2e.Lab {
	t.Helper()
	e2e.RequireVM(t)
	bin := needRackboot(t)
	e2e.RequireFiles(t, filepath.Join(e2e.IPXEDir, "snponly.efi"))
	ctx := testContext(t, time.Minute)
	l := e2e.NewLab(t)
	data := filepath.Join(l.Out, "data")
	e2e.MakePlatform(t, data, oldBuild)
	e2e.MakePlatform(t, data, newBuild)
	cfg.DHCPSubnets = []e2e.DHCPSubnet{{Subnet: l.Subnet, Pool: fmt.Sprintf("%s-%s", l.Addr(100), l.Addr(199))}}
	e2e.StartRackboot(ctx, t, l, e2e.RackbootOptions{Binary: bin, DHCPMode: "full", DataDir: data, Config: cfg})
	return l
}

// checkHTTPBoot checks, after vm booted, that it got there by UEFI HTTP boot:
// on its console, in its NIC's capture and in rackboot's log.
func checkHTTPBoot(t *testing.T, l *e2e.Lab, vm *e2e.VM) {
	t.Helper()
	// The firmware's side, on its console: EDK2's HTTP boot option ran and
	// fetched the URL rackboot gave; its PXE option never ran.
	screen := vm.Text()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`Start HTTP Boot over IPv4`),
		regexp.MustCompile(`URI: http://\S+:8080/(snponly|ipxe)\.efi`),
		regexp.MustCompile(`BdsDxe: starting Boot\d+ "UEFI HTTPv4 \(MAC:`),
	} {
		if m := want.FindString(screen); m == "" {
			t.Errorf("console lacks %q", want)
		} else {
			t.Logf("console: %s", m)
		}
	}
	if strings.Contains(screen, "PXE over IPv4") {
		t.Errorf("OVMF tried PXE: its PXE boot options were not off")
	}

	// What the firmware sent, from the NIC's capture: a DHCPDISCOVER with
	// vendor class HTTPClient:Arch:00016 and client arch 16 (x64 UEFI HTTP).
	reqs, err := e2e.PcapDHCPRequests(filepath.Join(l.Out, vm.Name+".pcap"))
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	var httpDiscover bool
	for _, p := range reqs {
		vc := string(p.Options.Get(dhcp4.OptVendorClass))
		arch := dhcp4.ArchTypes(p.Options.Get(dhcp4.OptClientArch))
		t.Logf("captured DHCP %s: vendor class %q, arch %v, user class %q", p.MessageType(), vc, arch, p.Options.Get(dhcp4.OptUserClass))
		if p.MessageType() == dhcp4.Discover && strings.HasPrefix(vc, "HTTPClient:Arch:00016") && len(arch) > 0 && arch[0] == 16 {
			httpDiscover = true
		}
		if strings.HasPrefix(vc, "PXEClient") && !p.Options.Has(dhcp4.OptIPXE) {
			t.Errorf("the firmware sent a PXE DHCP %s (vendor class %q)", p.MessageType(), vc)
		}
	}
	if !httpDiscover {
		t.Errorf("no DHCPDISCOVER with vendor class HTTPClient:Arch:00016 and arch 16 in the capture")
	}

	raw, err := os.ReadFile(filepath.Join(l.Out, "rackboot.log"))
	if err != nil {
		t.Fatal(err)
	}
	log := string(raw)
	mac := regexp.QuoteMeta(strings.ToLower(vm.MAC))
	// The firmware's own DHCP: HTTP boot, answered with a URL to snponly.efi
	// (proxy: "proxyDHCP answer", full: "DHCP DISCOVER").
	httpAnswer := regexp.MustCompile(`msg="(proxyDHCP answer|DHCP DISCOVER)" svc=dhcp mac=` + mac +
		` [^\n]*file=http://\S+:8080/(snponly|ipxe)\.efi`)
	if m := httpAnswer.FindString(log); m == "" {
		t.Errorf("rackboot never answered the HTTP-boot DISCOVER of %s with an iPXE URL", vm.MAC)
	} else {
		t.Logf("rackboot: %s", m)
	}
	// The NBP went over HTTP, not TFTP.
	nbpServed := regexp.MustCompile(`msg="file served" svc=http path=(snponly|ipxe)\.efi \S+ status=200`)
	if m := nbpServed.FindString(log); m == "" {
		t.Errorf("rackboot's HTTP server never served snponly.efi/ipxe.efi")
	} else {
		t.Logf("rackboot: %s", m)
	}
	if regexp.MustCompile(`msg="tftp: request" .*file=(snponly|ipxe)\.efi`).MatchString(log) {
		t.Errorf("the NBP was (also) fetched over TFTP: PXE was not off")
	}
	// Then iPXE itself: the menu over HTTP.
	if !regexp.MustCompile(`msg="menu served" svc=http mac=` + mac).MatchString(log) {
		t.Errorf("rackboot never served %s its menu", vm.MAC)
	}
}
