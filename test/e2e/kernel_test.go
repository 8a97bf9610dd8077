package e2e_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rackboot/test/e2e"
)

func TestScreenText(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "hello\r\nworld\n", "hello\nworld\n"},
		{"cursor per char (SeaBIOS sercon)", "\x1b[4;1Hi\x1b[4;2HP\x1b[4;3HX\x1b[4;4HE\r\n", "iPXE\n"},
		{"colours and reset", "\x1bc\x1b[40;37;1mok\x1b[m\n", "ok\n"},
		{"private modes", "\x1b[=3h\x1b[?25lboot\n", "boot\n"},
		{"backspaces erase", "line...\b \b\b \bnet0\n", "line.net0\n"},
		{"backspace stops at line start", "a\n\b\bb\n", "a\nb\n"},
		{"cut escape at end", "abc\x1b[12;", "abc"},
		{"charset", "\x1b(Bx\n", "x\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := e2e.ScreenText([]byte(tc.in)); got != tc.want {
				t.Errorf("ScreenText(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseKernelReport(t *testing.T) {
	good := "SeaBIOS noise\nhttp://x/unix... ok\n" +
		"RBK start magic=2badb002\nRBK memory lower=639 upper=523136\n" +
		"RBK cmdline: http://10.231.0.1:8080/unix -B console=text,smartos=true\n" +
		"RBK modules 2\n" +
		"RBK module 0 name=http://10.231.0.1:8080/boot_archive type=rootfs name=ramdisk size=3158073 crc32=0badc0de\n" +
		"RBK module 1 name=http://10.231.0.1:8080/boot_archive.hash size=41 crc32=00000001\n" +
		"RBK done\n"
	r, err := e2e.ParseKernelReport(good)
	if err != nil {
		t.Fatal(err)
	}
	if r.Magic != "2badb002" || !r.Done || len(r.Modules) != 2 {
		t.Fatalf("report = %+v", r)
	}
	if r.Cmdline != "http://10.231.0.1:8080/unix -B console=text,smartos=true" {
		t.Errorf("cmdline = %q", r.Cmdline)
	}
	m := r.Modules[0]
	if m.Name != "http://10.231.0.1:8080/boot_archive type=rootfs name=ramdisk" || m.Size != 3158073 || m.CRC32 != 0x0badc0de {
		t.Errorf("module 0 = %+v", m)
	}
	if m.URL() != "http://10.231.0.1:8080/boot_archive" {
		t.Errorf("module 0 URL = %q", m.URL())
	}

	for name, bad := range map[string]string{
		"no done":          "RBK start magic=2badb002\nRBK cmdline: x\n",
		"malformed module": "RBK module 0 name=x size=abc crc32=1\nRBK done\n",
		"out of order":     "RBK module 1 name=x size=1 crc32=00000000\nRBK done\n",
		"wrong loader":     "RBK start magic=00000000\nRBK error: not started by a multiboot loader\n",
	} {
		if _, err := e2e.ParseKernelReport(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestTestKernelDirect boots the test kernel with QEMU's own multiboot loader
// (-kernel, modules via -initrd): no network, no root, well under a second.
// It proves the kernel, its CRC-32 and the report parser agree with Go.
func TestTestKernelDirect(t *testing.T) {
	e2e.RequireCommands(t, e2e.QEMUBinary, "gcc", "ld")
	kernel := e2e.TestKernel(t)
	dir := t.TempDir()
	mods := map[string][]byte{
		"m0": []byte(strings.Repeat("rackboot ", 100000)),
		"m1": {},
		"m2": []byte("x"),
	}
	for n, b := range mods {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	serial := filepath.Join(dir, "serial")
	e2e.RequireAccel(t) // the KVM probe, if it runs, is not part of the minute below
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"-machine", "pc"}, e2e.AccelArgs()...)
	cmd := exec.CommandContext(ctx, e2e.QEMUBinary, append(args,
		"-m", "128", "-display", "none", "-monitor", "none", "-no-reboot", "-nic", "none",
		"-kernel", kernel, "-append", "-B console=text,root_shadow='$5$x$y',smartos=true",
		"-initrd", "m0 type=rootfs name=ramdisk,m1,m2",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-serial", "file:"+serial)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 33 {
		t.Fatalf("QEMU exit status %d (want 33 from isa-debug-exit): %v\n%s", code, err, out)
	}
	raw, _ := os.ReadFile(serial)
	r, err := e2e.ParseKernelReport(e2e.ScreenText(raw))
	if err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, raw)
	}
	// QEMU's loader puts the kernel's file name first, like iPXE puts its URL.
	if want := kernel + " -B console=text,root_shadow='$5$x$y',smartos=true"; r.Cmdline != want {
		t.Errorf("cmdline = %q, want %q", r.Cmdline, want)
	}
	wantNames := []string{"m0 type=rootfs name=ramdisk", "m1", "m2"}
	if len(r.Modules) != len(wantNames) {
		t.Fatalf("modules = %+v", r.Modules)
	}
	for i, m := range r.Modules {
		data := mods[m.URL()]
		if m.Name != wantNames[i] || m.Size != int64(len(data)) || m.CRC32 != crc32.ChecksumIEEE(data) {
			t.Errorf("module %d = %+v, want name %q size %d crc32 %08x", i, m, wantNames[i], len(data), crc32.ChecksumIEEE(data))
		}
	}
}

func TestMakePlatform(t *testing.T) {
	e2e.RequireCommands(t, "gcc", "ld")
	dir := t.TempDir()
	a := e2e.MakePlatform(t, dir, "20250101T000000Z")
	b := e2e.MakePlatform(t, dir, "20240101T000000Z")
	if a.Archive.CRC32 == b.Archive.CRC32 {
		t.Error("two builds have the same boot_archive")
	}
	if again := e2e.MakePlatform(t, t.TempDir(), a.Build); again.Archive.CRC32 != a.Archive.CRC32 {
		t.Error("boot_archive is not reproducible")
	}
	for _, f := range []e2e.FixtureFile{a.Kernel, a.Archive, a.Hash} {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(data)) != f.Size || crc32.ChecksumIEEE(data) != f.CRC32 {
			t.Errorf("%s: size/crc do not match the file", f.Path)
		}
		if rel, _ := filepath.Rel(dir, f.Path); "/"+filepath.ToSlash(rel) != f.URLPath {
			t.Errorf("%s: URLPath %q", f.Path, f.URLPath)
		}
	}
	if a.Kernel.URLPath != "/smartos/20250101T000000Z/platform/i86pc/kernel/amd64/unix" ||
		a.Archive.URLPath != "/smartos/20250101T000000Z/platform/i86pc/amd64/boot_archive" {
		t.Errorf("layout: %s, %s", a.Kernel.URLPath, a.Archive.URLPath)
	}
	archive, _ := os.ReadFile(a.Archive.Path)
	hash, _ := os.ReadFile(a.Hash.Path)
	sum := sha1.Sum(archive)
	if strings.TrimSpace(string(hash)) != hex.EncodeToString(sum[:]) {
		t.Errorf("boot_archive.hash = %q, want SHA-1 %x", hash, sum)
	}
	if a.Archive.Size != e2e.ArchiveSize {
		t.Errorf("archive size %d", a.Archive.Size)
	}
}
