package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"rackboot/internal/config"
	"rackboot/internal/machines"
	"rackboot/internal/menu"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
	"rackboot/internal/store"
	"rackboot/internal/target"
)

// Targets decodes the configuration's targets[] (their files resolved
// below the data directory, their scripts linted).
func Targets(cfg config.Config) ([]target.Target, error) {
	ts, err := target.NewAll(cfg.Targets, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return ts, nil
}

// newRenderer is the renderer serve gives every machine its menu with: the
// configuration's menu, the catalog's default build read from st per
// request, the rules, and each machine's own settings in registry.
func newRenderer(cfg config.Config, log *slog.Logger, memtest map[pxe.Firmware]string, targets []target.Target, registry *machines.Registry,
	st store.Store, onServed func(menu.Served)) (*menu.Renderer, error) {
	opts, err := MenuOptions(cfg, log, memtest, targets)
	if err != nil {
		return nil, err
	}
	platLog := log.With("svc", "platforms")
	opts.CatalogDefault = func() string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		b, err := smartos.DefaultBuild(ctx, st)
		if err != nil {
			platLog.Warn("cannot read the default platform; the menu boots the newest", "err", err)
		}
		return b
	}
	rules, err := machineRules(cfg.Machines.Rules)
	if err != nil {
		return nil, err
	}
	return &menu.Renderer{Options: opts, Registry: registry, Rules: rules, Log: log.With("svc", "boot"), OnServed: onServed}, nil
}

// MenuOptions is the configuration's menu (all but BaseURL, which comes
// from each request, and CatalogDefault); memtest names the memtest86+
// images offered, by firmware, and targets are the configuration's
// (Targets).
func MenuOptions(cfg config.Config, log *slog.Logger, memtest map[pxe.Firmware]string, targets []target.Target) (menu.Options, error) {
	shadow, err := rootShadow(cfg.SmartOS)
	if err != nil {
		return menu.Options{}, err
	}
	return menu.Options{
		Title:          cfg.Menu.Title,
		Timeout:        cfg.Menu.Timeout.Std(),
		Default:        cfg.Menu.Default,
		Console:        cfg.SmartOS.Console,
		OSConsole:      cfg.SmartOS.OSConsole,
		RootShadow:     shadow,
		Standalone:     cfg.SmartOS.Standalone,
		BootArgs:       cfg.SmartOS.BootArgs,
		KernelDebugger: smartos.KernelDebugger(cfg.SmartOS.KernelDebugger), // validated by config
		Memtest:        memtest,
		Targets:        targets,
		DataDir:        cfg.DataDir,
		Log:            log,
	}, nil
}

// rootShadow is the root_shadow for SmartOS: the configured hash, or one made
// from the configured password at start (a new salt each start is fine:
// SmartOS only checks the password against it).
func rootShadow(c config.SmartOS) (string, error) {
	if c.RootPassword == "" {
		return c.RootShadow, nil
	}
	h, err := smartos.HashPassword(c.RootPassword)
	if err != nil {
		return "", fmt.Errorf("smartos.root_password: %w", err)
	}
	return h, nil
}

// machineRules turns the configuration's rules into the registry's,
// hashing root passwords once at start.
func machineRules(in []config.MachineRule) ([]machines.Rule, error) {
	var out []machines.Rule
	for i, r := range in {
		mr := machines.Rule{Name: r.Name, MACPrefix: strings.ToLower(r.MACPrefix), Labels: r.Labels,
			Settings: machines.Settings{Default: r.Default, RootShadow: r.RootShadow, SkipMenu: r.SkipMenu, BootArgs: r.BootArgs,
				SecureBoot: r.SecureBoot}}
		if r.RootPassword != "" {
			h, err := smartos.HashPassword(r.RootPassword)
			if err != nil {
				return nil, fmt.Errorf("machines.rules[%d].root_password: %w", i, err)
			}
			mr.RootShadow = h
		}
		if err := mr.Validate(); err != nil {
			return nil, fmt.Errorf("machines.rules[%d]: %w", i, err)
		}
		out = append(out, mr)
	}
	return out, nil
}
