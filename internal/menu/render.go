package menu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"

	"rackboot/internal/bootargs"
	"rackboot/internal/machines"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
)

// Request is one client asking for its menu.
type Request struct {
	MAC  net.HardwareAddr
	Arch pxe.Arch
	// Features are what the client's iPXE advertised in DHCP option 175,
	// as the menu URL carries them (only those the menu decides on).
	Features pxe.Features
	BaseURL  string     // "http://10.0.0.1:8080": how this client reached us
	Client   netip.Addr // the client's address; invalid for a preview
}

// Served says what a machine was sent, for its boot timeline.
type Served struct {
	Request
	Item     string // the item the menu starts on
	BootOnce bool   // the item was the machine's boot-once, now consumed
	SkipMenu bool   // the menu boots Item at once
	Bytes    int
}

// Renderer decides what menu each machine gets: the configuration's menu
// (Options), the platforms on disk now, the rules that match the machine
// and its own settings in the registry, and its boot-once. It is the one
// place that decision is made (pixiecore's Booter).
type Renderer struct {
	Options  Options            // all but BaseURL, which comes from each request
	Registry *machines.Registry // nil: the configuration's menu for every machine
	Rules    []machines.Rule
	Log      *slog.Logger // nil: no logging
	// OnServed is told of every menu sent (not of previews); nil: no one.
	OnServed func(Served)
}

// Render builds the menu a machine boots from now, from the platforms on
// disk now (a build imported a moment ago is in it). It consumes the
// machine's boot-once in a store transaction that succeeds only if the
// boot-once is still the one the menu was built with; a concurrent change
// builds the menu again.
func (r *Renderer) Render(ctx context.Context, req Request) ([]byte, error) {
	return r.render(ctx, req, false, r.ipxe(req))
}

// RenderGRUB is Render for a machine that boots with Secure Boot on: the
// grub.cfg its signed GRUB runs, with the items it can boot that way, its
// default and its boot-once (consumed as Render does).
func (r *Renderer) RenderGRUB(ctx context.Context, req Request) ([]byte, error) {
	return r.render(ctx, req, false, func(o Options, platforms []smartos.Platform) ([]byte, error) {
		return BuildGRUB(o, req.Arch, req.MAC.String())
	})
}

// PreviewGRUB is the grub.cfg the machine would get now; it consumes
// nothing and tells no one.
func (r *Renderer) PreviewGRUB(ctx context.Context, req Request) ([]byte, error) {
	return r.render(ctx, req, true, func(o Options, platforms []smartos.Platform) ([]byte, error) {
		return BuildGRUB(o, req.Arch, req.MAC.String())
	})
}

// SecureBoot reports whether the machine boots with Secure Boot on, by its
// own setting or its rules. A registry that cannot be read says no (the
// machine gets iPXE, as before the setting existed), and the error is
// logged.
func (r *Renderer) SecureBoot(ctx context.Context, mac string) bool {
	if r.Registry == nil {
		return false
	}
	eff := machines.Resolve(r.machine(ctx, mac), r.Rules)
	return eff.SecureBoot != nil && *eff.SecureBoot
}

// ipxe builds the iPXE menu for req.
func (r *Renderer) ipxe(req Request) func(Options, []smartos.Platform) ([]byte, error) {
	return func(o Options, platforms []smartos.Platform) ([]byte, error) {
		s, err := Build(o, platforms, req.Arch, req.Features, req.MAC.String())
		if err != nil {
			return nil, err
		}
		return s.Render(), nil
	}
}

// Preview is the menu the machine would get now; it consumes nothing and
// tells no one.
func (r *Renderer) Preview(ctx context.Context, req Request) ([]byte, error) {
	return r.render(ctx, req, true, r.ipxe(req))
}

func (r *Renderer) render(ctx context.Context, req Request, preview bool, format func(Options, []smartos.Platform) ([]byte, error)) ([]byte, error) {
	platforms, err := smartos.Scan(r.Options.DataDir)
	if err != nil {
		return nil, err
	}
	base := r.Options
	base.BaseURL = req.BaseURL
	build := func(o Options) ([]byte, error) { return format(o, platforms) }
	if r.Registry == nil {
		return build(base)
	}
	mac := req.MAC.String()
	for attempt := 0; ; attempt++ {
		mc := r.machine(ctx, mac)
		eff := machines.Resolve(mc, r.Rules)
		opts := machineOptions(base, mc, eff)
		script, err := build(opts)
		if err != nil || preview {
			return script, err
		}
		once := false
		if mc.BootOnce != "" {
			ok, err := r.Registry.ClearBootOnce(ctx, mac, mc.BootOnce)
			if err == nil && !ok && attempt < 3 {
				continue // changed under us (another server, the operator): build again with what is there now
			}
			if err != nil || !ok {
				// A boot-once is served only once it is consumed: with the
				// store unreachable (etcd without quorum) a reinstall item
				// must not boot twice. It stays set for a later boot.
				r.log().Error("could not consume boot-once; serving the menu without it (it stays set)",
					"mac", mac, "boot_once", mc.BootOnce, "err", err)
				mc.BootOnce = ""
				eff = machines.Resolve(mc, r.Rules)
				opts = machineOptions(base, mc, eff)
				if script, err = build(opts); err != nil {
					return nil, err
				}
			}
			once = ok
		}
		r.served(req, opts, eff, once, len(script))
		return script, nil
	}
}

// machine is the registry's entry for mac, or a bare one.
func (r *Renderer) machine(ctx context.Context, mac string) machines.Machine {
	mc, err := r.Registry.Get(ctx, mac)
	if err != nil && !errors.Is(err, machines.ErrNotFound) {
		// A broken store must not stop machines booting: serve the
		// configuration's menu and say why.
		r.log().Error("machine registry unreadable; serving the default menu", "mac", mac, "err", err)
		mc = machines.Machine{MAC: mac}
	}
	if mc.MAC == "" {
		mc.MAC = mac
	}
	return mc
}

func (r *Renderer) served(req Request, opts Options, eff machines.Effective, once bool, size int) {
	if r.OnServed == nil {
		return
	}
	item := defaultOf(opts, "")
	if item == "" {
		item = IDNewestSmartOS
	}
	r.OnServed(Served{Request: req, Item: item, BootOnce: once, SkipMenu: eff.SkipMenu != nil && *eff.SkipMenu, Bytes: size})
}

func (r *Renderer) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// machineOptions applies a machine's effective settings to the menu options.
func machineOptions(base Options, mc machines.Machine, eff machines.Effective) Options {
	def := ItemID(eff.Default, "")
	m := Machine{Name: mc.Name, Default: def, RootShadow: eff.RootShadow, SkipMenu: eff.SkipMenu != nil && *eff.SkipMenu,
		BootArgs: append([]bootargs.KV(nil), eff.BootArgs...)}
	if eff.BootOnce != "" {
		// "noimport" is relative to what the machine would boot otherwise.
		m.Default = ItemID(eff.BootOnce, defaultOf(base, def))
		// A boot-once is an operator's explicit choice for this one boot (a
		// reinstall, a rescue), usually made from afar: nobody is at the
		// console to confirm it, so the countdown (menu.timeout, 30 s by
		// default) would only delay it. The menu still flashes, and a
		// failed boot still leads back to it.
		m.SkipMenu = true
	}
	return base.ForMachine(m)
}

// defaultOf is the item a menu starts on when the machine sets none: the
// configuration's, else the platform catalog's default build ("" for the
// newest build).
func defaultOf(base Options, machineDefault string) string {
	switch {
	case machineDefault != "":
		return machineDefault
	case base.Default != "":
		return base.Default
	case base.CatalogDefault != nil:
		if b := base.CatalogDefault(); b != "" {
			return SmartOSID(b)
		}
	}
	return ""
}

// CheckStart refuses, at start, a menu configuration that no client could
// be served. A default naming a build that is not (yet) on disk only
// warns: the menu falls back to the newest build until it is imported.
func (r *Renderer) CheckStart(baseURL string) error {
	platforms, err := smartos.Scan(r.Options.DataDir)
	if err != nil {
		return err
	}
	opts := r.Options
	opts.BaseURL = baseURL
	err = Check(opts, platforms)
	if errors.Is(err, ErrUnknownDefault) && strings.HasPrefix(opts.Default, "smartos-") {
		r.log().Warn("menu.default names a build that is not in the data directory; the newest build is the default until it is",
			"default", opts.Default, "data_dir", opts.DataDir)
		return nil
	}
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return nil
}

// CheckMachine refuses settings no menu could be built from: an item that
// is not offered, -B values that do not parse. It checks the machine's
// next boot (boot-once applied) and the boots after it.
func (r *Renderer) CheckMachine(mac string, eff machines.Effective) error {
	platforms, err := smartos.Scan(r.Options.DataDir)
	if err != nil {
		return err
	}
	base := r.Options
	base.BaseURL = "http://rackboot.invalid"
	base.Log = nil
	// Only what the machine brings is checked: the configuration's own
	// default was checked at start (and may wait for a build to arrive).
	base.Default, base.CatalogDefault = "", nil
	after := eff
	after.BootOnce = ""
	for _, x := range []machines.Effective{eff, after} {
		if err := Check(machineOptions(base, machines.Machine{MAC: mac}, x), platforms); err != nil {
			return err
		}
	}
	return nil
}
