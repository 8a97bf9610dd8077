//go:build linux

package e2e

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// OVMF with Microsoft's keys enrolled and Secure Boot on (Debian's ovmf
// package): what a server sold with Secure Boot on runs.
const (
	OVMFCodeSecureBoot = "/usr/share/OVMF/OVMF_CODE_4M.ms.fd"
	OVMFVarsSecureBoot = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
)

// DebianNetboot is where debian-installer-12-netboot-amd64 puts the
// installer and its signed chain (shim bootnetx64.efi, grubx64.efi).
const DebianNetboot = "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64"

// UEFISecureBoot is a UEFI PXE client with Secure Boot on.
const UEFISecureBoot Firmware = "uefi-secureboot"

// BootSecureBoot boots a UEFI PXE client with Secure Boot on, with the
// given MAC (a test marks the machine before it boots): OVMF with
// Microsoft's keys, a private copy of their variables, 1 GiB of memory
// (the installer's initrd unpacks in memory) and EDK2's own PXE client.
func (l *Lab) BootSecureBoot(ctx context.Context, t testing.TB, name, mac string) *VM {
	t.Helper()
	RequireCommands(t, QEMUBinary)
	RequireFiles(t, OVMFCodeSecureBoot, OVMFVarsSecureBoot)
	tap := l.AddTap(t)
	serial := filepath.Join(l.Out, name+".serial")
	vars := serial + ".OVMF_VARS.fd"
	if err := copyFile(OVMFVarsSecureBoot, vars); err != nil {
		t.Fatalf("copy OVMF variables: %v", err)
	}
	args := []string{
		"-machine", "q35,smm=on",
		"-global", "driver=cfi.pflash01,property=secure,value=on",
		"-m", "1024",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + OVMFCodeSecureBoot,
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
		"-device", fmt.Sprintf("virtio-net-pci,netdev=n0,mac=%s,romfile=,bootindex=1", mac),
	}
	vm := startVM(ctx, t, l, UEFISecureBoot, tap, mac, serial, args)
	vm.Name = name
	return vm
}

// BootWithMAC is Boot with a MAC chosen by the test, and memory for an
// installer (1 GiB) on UEFI.
func (l *Lab) BootWithMAC(ctx context.Context, t testing.TB, fw Firmware, name, mac string) *VM {
	t.Helper()
	tap := l.AddTap(t)
	serial := filepath.Join(l.Out, name+".serial")
	var vm *VM
	switch fw {
	case BIOS:
		vm = RunBIOS(ctx, t, l, tap, mac, serial)
	case UEFI:
		vm = RunUEFI(ctx, t, l, tap, mac, serial, "-m", "1024")
	default:
		t.Fatalf("BootWithMAC: firmware %q", fw)
	}
	vm.Name = name
	return vm
}

// DebianNetbootTarball writes netboot.tar.gz into dir from the files of
// debian-installer-12-netboot-amd64, in the layout of Debian's own
// netboot.tar.gz (which the package does not ship): version.info at the
// top, debian-installer/amd64/ with the kernel, the initrd, the signed
// shim and GRUB and GRUB's configuration directory.
func DebianNetbootTarball(t testing.TB, dir string) string {
	t.Helper()
	top := filepath.Dir(filepath.Dir(DebianNetboot)) // .../text
	files := []string{"version.info"}
	for _, f := range []string{"linux", "initrd.gz", "bootnetx64.efi", "grubx64.efi", "grub/grub.cfg", "grub/font.pf2"} {
		files = append(files, "debian-installer/amd64/"+f)
	}
	RequireFiles(t, filepath.Join(top, "version.info"), filepath.Join(DebianNetboot, "linux"))
	out := filepath.Join(dir, "netboot.tar.gz")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	for _, name := range files {
		b, err := os.ReadFile(filepath.Join(top, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: "./" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b)), ModTime: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}
