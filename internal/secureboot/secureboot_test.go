package secureboot

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestContent(t *testing.T) {
	c := Chain{Shim: "/x/bootnetx64.efi", GRUB: "/x/grubx64.efi", Prefix: "debian-installer/amd64/grub"}
	var asked string
	render := func(_ context.Context, mac net.HardwareAddr, _ netip.Addr) ([]byte, error) {
		asked = mac.String()
		return []byte("menu of " + mac.String()), nil
	}
	ctx := context.Background()
	if b, ok, _ := c.Content(ctx, render, netip.Addr{}, "debian-installer/amd64/grub/grub.cfg"); !ok || !strings.Contains(string(b), `source "$prefix/rackboot/${net_default_mac}.cfg"`) {
		t.Errorf("stub: %v %s", ok, b)
	}
	if b, ok, _ := c.Content(ctx, render, netip.Addr{}, "/debian-installer/amd64/grub/rackboot/52:54:00:AB:cd:01.cfg"); !ok || asked != "52:54:00:ab:cd:01" || string(b) != "menu of 52:54:00:ab:cd:01" {
		t.Errorf("machine menu: %v %q %s", ok, asked, b)
	}
	for _, name := range []string{"debian-installer/amd64/grub/rackboot/nope.cfg", "debian-installer/amd64/grub/rackboot/52:54:00:ab:cd:01",
		"grubx64.efi", "debian-installer/amd64/grub/x86_64-efi/command.lst", "rackboot/52:54:00:ab:cd:01.cfg"} {
		if _, ok, _ := c.Content(ctx, render, netip.Addr{}, name); ok {
			t.Errorf("%s: generated", name)
		}
	}
	if f := c.Files(); f["bootnetx64.efi"] != "/x/bootnetx64.efi" || f["grubx64.efi"] != "/x/grubx64.efi" || len(f) != 2 {
		t.Errorf("files: %v", f)
	}
	// Over HTTP, the same; anything else goes on.
	h := c.Handler(render, http.NotFoundHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/debian-installer/amd64/grub/rackboot/52:54:00:ab:cd:02.cfg", nil))
	if rec.Code != 200 || rec.Body.String() != "menu of 52:54:00:ab:cd:02" {
		t.Errorf("HTTP: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api-token", nil))
	if rec.Code != 404 {
		t.Errorf("other names: %d", rec.Code)
	}
	// TFTP: generated names first, then the next hook.
	o := c.Override(render, func(netip.AddrPort, string) ([]byte, bool) { return []byte("next"), true })
	if b, ok := o(netip.AddrPort{}, "debian-installer/amd64/grub/grub.cfg"); !ok || !strings.HasPrefix(string(b), "# rackboot") {
		t.Errorf("override stub: %s", b)
	}
	if b, _ := o(netip.AddrPort{}, "snponly.efi"); string(b) != "next" {
		t.Errorf("override next: %s", b)
	}
}

// A HEAD of a machine's grub.cfg does not render it: rendering consumes
// the machine's boot-once, which only the GET that GRUB boots from may.
func TestHeadConsumesNothing(t *testing.T) {
	c := Chain{Shim: "/x/bootnetx64.efi", GRUB: "/x/grubx64.efi", Prefix: "debian-installer/amd64/grub"}
	renders := 0
	render := func(_ context.Context, mac net.HardwareAddr, _ netip.Addr) ([]byte, error) {
		renders++
		return []byte("menu"), nil
	}
	h := c.Handler(render, http.NotFoundHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("HEAD", "/debian-installer/amd64/grub/rackboot/52:54:00:ab:cd:02.cfg", nil))
	if rec.Code != 200 || renders != 0 {
		t.Errorf("HEAD: status %d, %d renders", rec.Code, renders)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/debian-installer/amd64/grub/rackboot/52:54:00:ab:cd:02.cfg", nil))
	if rec.Code != 200 || renders != 1 || rec.Body.String() != "menu" {
		t.Errorf("GET: status %d, %d renders, %q", rec.Code, renders, rec.Body)
	}
}
