package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"rackboot/internal/bootargs"
	"strings"

	"rackboot/internal/api"
	"rackboot/internal/bootfs"
	"rackboot/internal/config"
	"rackboot/internal/firmware"
	"rackboot/internal/httpd"
	"rackboot/internal/menu"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
	"rackboot/internal/store/boltstore"
)

// bootEnv is what both `serve` and `menu` need: the iPXE builds, the data
// directory and the menu settings, resolved once from the configuration.
type bootEnv struct {
	cfg    config.Config
	builds firmware.Set // iPXE builds and memtest images, by the name clients ask for
	files  *bootfs.FS   // what TFTP and HTTP serve: builds, platforms, public files
	menu   menu.Options // all but BaseURL, which comes from each request
	log    *slog.Logger
	// machines gives each machine its own menu and records it (serve only;
	// nil in `rackboot menu`, which gives the configuration's menu).
	machines *machineServices
}

func newBootEnv(cfg config.Config, log *slog.Logger) (*bootEnv, error) {
	e := &bootEnv{cfg: cfg, log: log}
	e.builds = firmware.Find(firmware.SearchPath(cfg.IPXEDir))
	if len(e.builds) == 0 {
		log.Warn(firmware.Hint)
	}
	shadow, err := rootShadow(cfg.SmartOS)
	if err != nil {
		return nil, err
	}
	e.menu = menu.Options{
		Title:      cfg.Menu.Title,
		Timeout:    cfg.Menu.Timeout.Std(),
		Default:    cfg.Menu.Default,
		Console:    cfg.SmartOS.Console,
		OSConsole:  cfg.SmartOS.OSConsole,
		RootShadow: shadow,
		Standalone: cfg.SmartOS.Standalone,
		Memtest:    map[pxe.Firmware]string{},
		DataDir:    cfg.DataDir,
		Log:        log,
	}
	e.menu.KernelDebugger = smartos.KernelDebugger(cfg.SmartOS.KernelDebugger) // validated by config
	for _, kv := range cfg.SmartOS.BootArgs {
		e.menu.BootArgs = append(e.menu.BootArgs, bootargs.KV{Key: kv.Key, Value: kv.Value})
	}
	for fw, file := range map[pxe.Firmware]string{pxe.BIOS: cfg.Memtest.BIOS, pxe.UEFI: cfg.Memtest.EFI} {
		if file == "" {
			continue
		}
		if _, err := os.Stat(file); err != nil {
			log.Info("memtest86+ not offered", "firmware", fw, "file", file, "err", err,
				"hint", "apt-get install memtest86+, or set memtest.bios / memtest.efi")
			continue
		}
		name := path.Join("memtest", filepath.Base(file))
		e.builds[name] = file
		e.menu.Memtest[fw] = name
	}
	files, err := bootfs.New(e.builds,
		bootfs.Mount{Prefix: smartos.PlatformsSubdir, Dir: filepath.Join(cfg.DataDir, smartos.PlatformsSubdir)},
		bootfs.Mount{Dir: filepath.Join(cfg.DataDir, bootfs.PublicDir)})
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	e.files = files
	warnUnserved(cfg.DataDir, log)
	return e, nil
}

// warnUnserved names the files at the top of the data directory that are no
// longer served: every file there was, secrets included, until bootfs.
func warnUnserved(dataDir string, log *slog.Logger) {
	names, err := bootfs.Unserved(dataDir, []string{smartos.PlatformsSubdir, bootfs.PublicDir},
		api.TokenFile, boltstore.FileName, boltstore.PidFileName, serveFile)
	if err != nil {
		log.Warn("cannot list the data directory", "dir", dataDir, "err", err)
		return
	}
	for _, n := range names {
		log.Warn("not served to the boot network: only platforms and "+bootfs.PublicDir+"/ are",
			"file", filepath.Join(dataDir, n), "hint", "move it to "+filepath.Join(dataDir, bootfs.PublicDir)+" to serve it")
	}
}

func (e *bootEnv) Close() error { return e.files.Close() }

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

// renderMenu builds the menu for one client from the platforms on disk now,
// so that a newly imported build shows up without a restart.
func (e *bootEnv) renderMenu(ctx context.Context, r httpd.MenuRequest) ([]byte, error) {
	return e.menuFor(ctx, r, false)
}

// menuFor renders the menu; a preview (the API's) consumes no boot-once
// and records no boot event.
func (e *bootEnv) menuFor(ctx context.Context, r httpd.MenuRequest, preview bool) ([]byte, error) {
	platforms, err := smartos.Scan(e.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	opts := e.menu
	opts.BaseURL = r.BaseURL
	build := func(opts menu.Options) ([]byte, error) {
		script, err := menu.Build(opts, platforms, r.Arch, r.MAC.String())
		if err != nil {
			return nil, err
		}
		return script.Render(), nil
	}
	if e.machines != nil {
		return e.machines.menu(ctx, opts, r, build, preview)
	}
	return build(opts)
}

// checkMenu refuses, at start, a menu configuration that no client could be
// served. A default naming a build that is not (yet) on disk only warns: the
// menu falls back to the newest build until it is imported.
func (e *bootEnv) checkMenu(baseURL string) error {
	platforms, err := smartos.Scan(e.cfg.DataDir)
	if err != nil {
		return err
	}
	opts := e.menu
	opts.BaseURL = baseURL
	err = menu.Check(opts, platforms)
	if err != nil && strings.HasPrefix(opts.Default, "smartos-") && !strings.Contains(err.Error(), "boot argument") {
		e.log.Warn("menu.default names a build that is not in the data directory; the newest build is the default until it is",
			"default", opts.Default, "data_dir", e.cfg.DataDir)
		return nil
	}
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return nil
}
