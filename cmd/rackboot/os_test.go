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
