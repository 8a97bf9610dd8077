package server

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"

	"rackboot/internal/api"
	"rackboot/internal/bootfs"
	"rackboot/internal/config"
	"rackboot/internal/firmware"
	"rackboot/internal/osimage"
	"rackboot/internal/pxe"
	"rackboot/internal/secureboot"
	"rackboot/internal/smartos"
	"rackboot/internal/store/boltstore"
	"rackboot/internal/target"
)

// findBuilds finds the iPXE builds, and the memtest86+ images the
// configuration names, which join them under memtest/ (memtest: the menu
// paths, by firmware).
func findBuilds(cfg config.Config, log *slog.Logger) (builds firmware.Set, memtest map[pxe.Firmware]string) {
	builds = firmware.Find(firmware.SearchPath(cfg.IPXEDir))
	if len(builds) == 0 {
		log.Warn(firmware.Hint)
	}
	memtest = map[pxe.Firmware]string{}
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
		builds[name] = file
		memtest[fw] = name
	}
	return builds, memtest
}

// secureBootChain is the signed chain Secure Boot machines get, or nil when
// its files are not there (they then get iPXE, and fail: said at start).
func secureBootChain(cfg config.Config, log *slog.Logger) *secureboot.Chain {
	c := &secureboot.Chain{Shim: cfg.SecureBoot.Shim, GRUB: cfg.SecureBoot.GRUB, Prefix: cfg.SecureBoot.GRUBPrefix}
	if c.Shim == "" || c.GRUB == "" {
		return nil
	}
	// Relative names are below data_dir (as rackboot os import put them);
	// checked as a target's files are, so that neither can name
	// rackboot's own state (they are served at the TFTP root).
	var err error
	for _, p := range []*string{&c.Shim, &c.GRUB} {
		if *p, err = target.LocalFile(*p, cfg.DataDir); err != nil {
			break
		}
	}
	if err == nil {
		err = c.Check()
	}
	if err != nil {
		log.Info("no signed boot chain for Secure Boot machines", "err", err,
			"hint", "apt-get install debian-installer-12-netboot-amd64, or set secure_boot.shim and secure_boot.grub")
		return nil
	}
	return c
}

// serveFiles is the one file system TFTP and HTTP serve (bootfs: the
// builds, the files the targets name under the names they give them, the
// platforms, public/; never the secrets beside them).
func serveFiles(cfg config.Config, builds firmware.Set, targets []target.Target, chain *secureboot.Chain, log *slog.Logger) (*bootfs.FS, error) {
	named := maps.Clone(builds)
	if chain != nil {
		maps.Copy(named, chain.Files())
	}
	for _, t := range targets {
		for _, f := range t.Files() {
			named[f.Name] = f.Path
		}
	}
	files, err := bootfs.New(named,
		bootfs.Mount{Prefix: smartos.PlatformsSubdir, Dir: filepath.Join(cfg.DataDir, smartos.PlatformsSubdir)},
		bootfs.Mount{Dir: filepath.Join(cfg.DataDir, bootfs.PublicDir)})
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	warnUnserved(cfg.DataDir, log)
	return files, nil
}

// warnUnserved names the files at the top of the data directory that are no
// longer served: every file there was, secrets included, until bootfs.
func warnUnserved(dataDir string, log *slog.Logger) {
	// os/ is rackboot os import's: its files are served through the
	// targets that name them, never as a directory.
	names, err := bootfs.Unserved(dataDir, []string{smartos.PlatformsSubdir, bootfs.PublicDir, osimage.Subdir},
		api.TokenFile, boltstore.FileName, boltstore.PidFileName, api.ServeFile)
	if err != nil {
		log.Warn("cannot list the data directory", "dir", dataDir, "err", err)
		return
	}
	for _, n := range names {
		log.Warn("not served to the boot network: only platforms and "+bootfs.PublicDir+"/ are",
			"file", filepath.Join(dataDir, n), "hint", "move it to "+filepath.Join(dataDir, bootfs.PublicDir)+" to serve it")
	}
}
