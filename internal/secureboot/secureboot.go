// Package secureboot serves the signed boot chain that machines with UEFI
// Secure Boot on can run, since they refuse an unsigned iPXE: the
// distribution's shim (signed by Microsoft's UEFI CA), its network GRUB
// (signed by the distribution, checked by shim) and a grub.cfg rackboot
// writes for each machine, whose kernels GRUB checks through shim.
//
// What Debian's chain asks for, seen under Secure Boot OVMF (Microsoft's
// keys enrolled): the DHCP boot file (bootnetx64.efi, the shim) over TFTP;
// then shim asks for grubx64.efi at the TFTP root, not beside itself, and
// optionally revocations_*.efi and shim_certificate_0.efi (absent is
// fine); then GRUB, its prefix built in as debian-installer/amd64/grub,
// tests x86_64-efi/grub.cfg there and reads grub.cfg (its memdisk's early
// configuration). rackboot's grub.cfg there is a stub that sources
// rackboot/<mac>.cfg below the prefix with GRUB's own ${net_default_mac},
// so each machine gets its own menu without rackboot having to map a TFTP
// client's address back to a MAC.
package secureboot

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// GRUBName is where shim looks for the second stage: grubx64.efi at the
// TFTP root (shim's DEFAULT_LOADER, fetched from the root of the TFTP
// server it was loaded from).
const GRUBName = "grubx64.efi"

// Chain is one signed chain: a shim, the GRUB it loads and the directory
// that GRUB reads grub.cfg from.
type Chain struct {
	Shim, GRUB string // files on disk
	Prefix     string // "debian-installer/amd64/grub"
}

// Check says whether both files are there.
func (c Chain) Check() error {
	for _, p := range []string{c.Shim, c.GRUB} {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
	}
	return nil
}

// ShimName is the DHCP boot file of a Secure Boot machine.
func (c Chain) ShimName() string { return filepath.Base(c.Shim) }

// Files are the chain's files by served name.
func (c Chain) Files() map[string]string {
	return map[string]string{c.ShimName(): c.Shim, GRUBName: c.GRUB}
}

// stubName is the grub.cfg GRUB reads; machineDir holds each machine's.
func (c Chain) stubName() string   { return c.Prefix + "/grub.cfg" }
func (c Chain) machineDir() string { return c.Prefix + "/rackboot/" }

// Stub is the grub.cfg at the prefix: it sources the machine's own. No
// "[ -e ... ]" test first: over TFTP that fetches the file too, and each
// fetch of a machine's menu consumes its boot-once.
func (c Chain) Stub() []byte {
	return []byte("# rackboot: each machine's menu is " + c.machineDir() + "<its MAC>.cfg\n" +
		"echo \"rackboot: loading $prefix/rackboot/${net_default_mac}.cfg\"\n" +
		"source \"$prefix/rackboot/${net_default_mac}.cfg\"\n")
}

// MachineMAC is the MAC a name asks the menu of: <prefix>/rackboot/<mac>.cfg.
func (c Chain) MachineMAC(name string) (net.HardwareAddr, bool) {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(name, "/"), c.machineDir())
	if !ok {
		return nil, false
	}
	mac, err := net.ParseMAC(strings.TrimSuffix(rest, ".cfg"))
	if err != nil || !strings.HasSuffix(rest, ".cfg") {
		return nil, false
	}
	return mac, true
}

// Render writes the grub.cfg of the machine with this MAC, asked from
// client (rackboot: menu.Renderer.RenderGRUB).
type Render func(ctx context.Context, mac net.HardwareAddr, client netip.Addr) ([]byte, error)

// Content is what the chain generates for name: the stub, or a machine's
// grub.cfg. ok is false for every other name.
func (c Chain) Content(ctx context.Context, render Render, client netip.Addr, name string) (content []byte, ok bool, err error) {
	name = strings.TrimPrefix(name, "/")
	if name == c.stubName() {
		return c.Stub(), true, nil
	}
	mac, ok := c.MachineMAC(name)
	if !ok {
		return nil, false, nil
	}
	b, err := render(ctx, mac, client)
	return b, true, err
}

// Handler serves the generated files over HTTP (a shim started by UEFI
// HTTP boot loads GRUB over HTTP, whose prefix is then an HTTP one) and
// passes every other request to next.
func (c Chain) Handler(render Render, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		if _, ok := c.MachineMAC(r.URL.Path); ok && r.Method == http.MethodHead {
			// Rendering a machine's menu consumes its boot-once: only
			// the GET that GRUB boots from may. Its length is not known
			// without rendering, and a HEAD may leave it out.
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			return
		}
		client, _ := netip.ParseAddrPort(r.RemoteAddr)
		b, ok, err := c.Content(r.Context(), render, client.Addr().Unmap(), r.URL.Path)
		switch {
		case !ok:
			next.ServeHTTP(w, r)
		case err != nil:
			http.Error(w, "rackboot: "+err.Error(), http.StatusInternalServerError)
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write(b)
		}
	})
}

// Override is the TFTP server's hook: the generated files for their names,
// else next's answer (the iPXE loop breaker).
func (c Chain) Override(render Render, next func(netip.AddrPort, string) ([]byte, bool)) func(netip.AddrPort, string) ([]byte, bool) {
	return func(client netip.AddrPort, name string) ([]byte, bool) {
		b, ok, err := c.Content(context.Background(), render, client.Addr(), name)
		if ok && err == nil {
			return b, true
		}
		if ok {
			// A machine's menu could not be built: say nothing rather
			// than a half menu; GRUB's stub says it could not load it.
			return nil, false
		}
		if next == nil {
			return nil, false
		}
		return next(client, name)
	}
}
