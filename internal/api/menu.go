package api

import (
	"net/http"
)

// serveMenu answers GET /machines/{mac}/menu: the iPXE script the machine
// would get if it booted now, boot-once included (and not consumed). The
// firmware is ?arch= if given, else the one the machine last booted with,
// else BIOS; ?features= names its iPXE's feature flags ("multiboot2": a
// UEFI machine is offered SmartOS), none if absent.
func (m *Machines) serveMenu(w http.ResponseWriter, r *http.Request) error {
	mac, err := macParam(r)
	if err != nil {
		return err
	}
	if m.Menu == nil {
		return Errorf(http.StatusNotImplemented, "this server renders no menus")
	}
	arch := r.URL.Query().Get("arch")
	if arch == "" {
		if mc, err := m.Registry.Get(r.Context(), mac); err == nil && mc.Arch != "" {
			arch = mc.Arch
		} else if b, ok := m.Events.Boot(mac); ok && b.Arch != "" {
			arch = b.Arch
		} else {
			arch = "bios"
		}
	}
	script, err := m.Menu(r.Context(), mac, arch, r.URL.Query().Get("features"), "http://"+r.Host)
	if err != nil {
		return Errorf(http.StatusBadRequest, "menu for %s (%s): %v", mac, arch, err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Rackboot-Arch", arch)
	_, err = w.Write(script)
	return err
}
