package main

import (
	"context"
	"errors"
	"net"
	"rackboot/internal/bootargs"
	"time"

	"rackboot/internal/api"
	"rackboot/internal/boot"
	"rackboot/internal/events"
	"rackboot/internal/httpd"
	"rackboot/internal/machines"
	"rackboot/internal/menu"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
)

// menuBuilder renders a menu from options (the platforms and the client
// are already bound).
type menuBuilder func(menu.Options) ([]byte, error)

// machineOptions applies a machine's effective settings to the menu options.
func machineOptions(base menu.Options, mc machines.Machine, eff machines.Effective) menu.Options {
	def := menu.ItemID(eff.Default, "")
	m := menu.Machine{Name: mc.Name, Default: def, RootShadow: eff.RootShadow, SkipMenu: eff.SkipMenu != nil && *eff.SkipMenu}
	if eff.BootOnce != "" {
		// "noimport" is relative to what the machine would boot otherwise.
		m.Default = menu.ItemID(eff.BootOnce, defaultOf(base, def))
	}
	for _, kv := range eff.BootArgs {
		m.BootArgs = append(m.BootArgs, bootargs.KV{Key: kv.Key, Value: kv.Value})
	}
	return base.ForMachine(m)
}

// defaultOf is the item a menu starts on when the machine sets none: the
// configuration's, else the platform catalog's default build ("" for the
// newest build).
func defaultOf(base menu.Options, machineDefault string) string {
	switch {
	case machineDefault != "":
		return machineDefault
	case base.Default != "":
		return base.Default
	case base.CatalogDefault != nil:
		if b := base.CatalogDefault(); b != "" {
			return menu.SmartOSID(b)
		}
	}
	return ""
}

// menu builds the machine's menu. Served (not a preview), it consumes the
// machine's boot-once in a store transaction that succeeds only if the
// boot-once is still the one the menu was built with; a concurrent change
// builds the menu again. It records the menu as a boot event.
func (m *machineServices) menu(ctx context.Context, base menu.Options, r httpd.MenuRequest, build menuBuilder, preview bool) ([]byte, error) {
	mac := r.MAC.String()
	if m.registry == nil {
		return build(base)
	}
	for attempt := 0; ; attempt++ {
		mc, err := m.registry.Get(ctx, mac)
		if err != nil && !errors.Is(err, machines.ErrNotFound) {
			// A broken store must not stop machines booting: serve the
			// configuration's menu and say why.
			m.log.Error("machine registry unreadable; serving the default menu", "mac", mac, "err", err)
			mc = machines.Machine{MAC: mac}
		}
		if mc.MAC == "" {
			mc.MAC = mac
		}
		eff := machines.Resolve(mc, m.rules)
		opts := machineOptions(base, mc, eff)
		script, err := build(opts)
		if err != nil {
			return nil, err
		}
		if preview {
			return script, nil
		}
		once := false
		if mc.BootOnce != "" {
			ok, err := m.registry.ClearBootOnce(ctx, mac, mc.BootOnce)
			switch {
			case err != nil:
				m.log.Error("could not clear boot-once; it stays set for the next boot too", "mac", mac, "boot_once", mc.BootOnce, "err", err)
			case !ok && attempt < 3:
				continue // changed under us: build again with what is there now
			}
			once = ok
		}
		m.served(r, opts, eff, once, len(script))
		return script, nil
	}
}

// served records a menu sent to a machine.
func (m *machineServices) served(r httpd.MenuRequest, opts menu.Options, eff machines.Effective, once bool, size int) {
	m.metrics.HTTP(events.KindMenu, 200, int64(size))
	if r.Client.IsValid() {
		// The menu request names its MAC: later files from this address
		// are this machine's even if its DHCP went unseen.
		m.sightings.Record(r.Client, boot.Sighting{MAC: r.MAC, Arch: r.Arch, IPXE: true})
	}
	item := defaultOf(opts, "")
	if item == "" {
		item = menu.IDNewestSmartOS
	}
	msg := "menu served: default " + item
	if once {
		msg += " (boot-once, now consumed)"
	}
	if eff.SkipMenu != nil && *eff.SkipMenu {
		msg += ", booted at once"
	}
	ip := ""
	if r.Client.IsValid() {
		ip = r.Client.String()
	}
	m.events.Publish(events.Event{Time: time.Now(), MAC: r.MAC.String(), Type: events.TypeMenu, Arch: r.Arch.String(), IP: ip,
		Kind: events.KindMenu, Bytes: int64(size), Item: item, BootOnce: once, SkipMenu: eff.SkipMenu != nil && *eff.SkipMenu, Msg: msg})
}

// mountAPI registers the machine and event routes.
func (m *machineServices) mountAPI(s *api.Server, env *bootEnv, done <-chan struct{}) {
	h := &api.Machines{
		Registry:     m.registry,
		Rules:        m.rules,
		Events:       m.events,
		Done:         done,
		HashPassword: smartos.HashPassword,
		Check: func(ctx context.Context, mac string, e machines.Effective) error {
			return env.checkMachine(mac, e)
		},
		Menu: func(ctx context.Context, mac, arch, baseURL string) ([]byte, error) {
			hw, err := net.ParseMAC(mac)
			if err != nil {
				return nil, err
			}
			a, err := pxe.ParseArch(arch)
			if err != nil {
				return nil, err
			}
			return env.menuFor(ctx, httpd.MenuRequest{MAC: hw, Arch: a, BaseURL: baseURL}, true)
		},
	}
	h.Register(s)
}

// checkMachine refuses settings no menu could be built from: an item that
// is not offered, -B values that do not parse. It checks the machine's
// next boot (boot-once applied) and the boots after it.
func (e *bootEnv) checkMachine(mac string, eff machines.Effective) error {
	platforms, err := smartos.Scan(e.cfg.DataDir)
	if err != nil {
		return err
	}
	base := e.menu
	base.BaseURL = "http://rackboot.invalid"
	base.Log = nil
	// Only what the machine brings is checked: the configuration's own
	// default was checked at start (and may wait for a build to arrive).
	base.Default, base.CatalogDefault = "", nil
	after := eff
	after.BootOnce = ""
	for _, x := range []machines.Effective{eff, after} {
		if err := menu.Check(machineOptions(base, machines.Machine{MAC: mac}, x), platforms); err != nil {
			return err
		}
	}
	return nil
}
