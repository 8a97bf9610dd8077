package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// os import of a netboot tarball in Debian's layout, then the target it
// suggests in the iPXE menu and in a Secure Boot machine's grub.cfg.
func TestOSImportThenMenus(t *testing.T) {
	t.Setenv("RACKBOOT_TOKEN", "")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range map[string]string{
		"version.info":                          "Debian version:  12 (bookworm)\n",
		"debian-installer/amd64/linux":          "kernel",
		"debian-installer/amd64/initrd.gz":      "initrd",
		"debian-installer/amd64/bootnetx64.efi": "shim",
		"debian-installer/amd64/grubx64.efi":    "grub",
	} {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	zw.Close()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tgz := filepath.Join(dir, "netboot.tar.gz")
	os.WriteFile(tgz, buf.Bytes(), 0o644)

	out := mustRackboot(t, "os", "import", tgz, "--data-dir", data)
	for _, want := range []string{"imported debian-12-amd64 (debian-netboot amd64, 12 (bookworm)", "kernel: os/debian-12-amd64/debian-installer/amd64/linux",
		"secure_boot: true", "shim: os/debian-12-amd64/debian-installer/amd64/bootnetx64.efi"} {
		if !strings.Contains(out, want) {
			t.Errorf("os import output lacks %q:\n%s", want, out)
		}
	}
	if list := mustRackboot(t, "os", "list", "--data-dir", data); !strings.HasPrefix(list, "debian-12-amd64 ") {
		t.Errorf("os list:\n%s", list)
	}

	cfg := filepath.Join(dir, "rackboot.yaml")
	os.WriteFile(cfg, []byte(`data_dir: `+data+`
menu: {default: debian-12-amd64}
secure_boot:
  shim: os/debian-12-amd64/debian-installer/amd64/bootnetx64.efi
  grub: os/debian-12-amd64/debian-installer/amd64/grubx64.efi
targets:
  - id: debian-12-amd64
    title: Debian 12 installer
    linux:
      kernel: os/debian-12-amd64/debian-installer/amd64/linux
      initrd: [os/debian-12-amd64/debian-installer/amd64/initrd.gz]
      cmdline: priority=low
      secure_boot: true
`), 0o644)
	args := []string{"menu", "--config", cfg, "--mac", "52:54:00:12:34:56", "--arch", "efi-x86_64", "--base-url", "http://10.0.0.1"}
	ipxeMenu := mustRackboot(t, args...)
	if !strings.Contains(ipxeMenu, "kernel http://10.0.0.1/targets/debian-12-amd64/linux initrd=initrd.gz priority=low || goto failed") ||
		!strings.Contains(ipxeMenu, "choose --default debian-12-amd64 ") {
		t.Errorf("iPXE menu:\n%s", ipxeMenu)
	}
	grub := mustRackboot(t, append(args, "--grub")...)
	if !strings.Contains(grub, "set default=debian-12-amd64\n") || !strings.Contains(grub, "\tlinux /targets/debian-12-amd64/linux priority=low\n") {
		t.Errorf("grub.cfg:\n%s", grub)
	}
}

// TestOSRemove: os remove refuses an import the configuration still boots
// (a target's file, the Secure Boot chain), naming what uses it; once
// nothing does, the tree and its catalog entry go together.
func TestOSRemove(t *testing.T) {
	t.Setenv("RACKBOOT_TOKEN", "")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tree := filepath.Join(data, "os", "deb", "debian-installer", "amd64")
	os.MkdirAll(tree, 0o755)
	for _, n := range []string{"linux", "initrd.gz", "bootnetx64.efi", "grubx64.efi"} {
		os.WriteFile(filepath.Join(tree, n), []byte(n), 0o644)
	}
	os.WriteFile(filepath.Join(data, "os", "deb", "rackboot-os.json"), []byte(`{"name":"deb","layout":"debian-netboot","dir":"os/deb"}`), 0o644)
	cfg := filepath.Join(dir, "rackboot.yaml")
	os.WriteFile(cfg, []byte(`data_dir: `+data+`
secure_boot:
  shim: os/deb/debian-installer/amd64/bootnetx64.efi
  grub: os/deb/debian-installer/amd64/grubx64.efi
targets:
  - id: installer
    linux: {kernel: os/deb/debian-installer/amd64/linux, initrd: [os/deb/debian-installer/amd64/initrd.gz]}
`), 0o644)
	_, _, err := rackboot(t, "os", "remove", "deb", "--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "target installer") || !strings.Contains(err.Error(), "secure_boot.shim") {
		t.Fatalf("os remove of an import in use: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tree, "linux")); err != nil {
		t.Fatalf("refused, yet removed: %v", err)
	}
	if _, _, err := rackboot(t, "os", "remove", "nothing-here", "--data-dir", data); err == nil || !strings.Contains(err.Error(), "not imported") {
		t.Errorf("os remove of no import: %v", err)
	}
	if _, _, err := rackboot(t, "os", "remove", "../data", "--data-dir", data); err == nil {
		t.Error("os remove ../data: removed")
	}
	out := mustRackboot(t, "os", "remove", "deb", "--data-dir", data)
	if !strings.Contains(out, "removed deb") {
		t.Errorf("os remove: %s", out)
	}
	if entries, _ := os.ReadDir(filepath.Join(data, "os")); len(entries) != 0 {
		t.Errorf("left under os/: %v", entries)
	}
}
