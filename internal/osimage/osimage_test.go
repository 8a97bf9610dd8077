package osimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rackboot/internal/smartos/smartostest"
)

// netboot builds a tarball in Debian's netboot layout (as
// debian-installer-12-netboot-amd64 ships it, with small files).
func netboot(t *testing.T, extra map[string]string) []byte {
	t.Helper()
	files := map[string]string{
		"version.info":                           "Debian version:  12 (bookworm)\nInstaller build: 20230607+deb12u15\n",
		"debian-installer/amd64/linux":           "kernel",
		"debian-installer/amd64/initrd.gz":       "initrd",
		"debian-installer/amd64/bootnetx64.efi":  "shim",
		"debian-installer/amd64/grubx64.efi":     "grub",
		"debian-installer/amd64/grub/grub.cfg":   "menuentry x {}\n",
		"debian-installer/amd64/pxelinux.cfg/de": "x",
	}
	for k, v := range extra {
		files[k] = v
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755})
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: "./" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	// Debian's tarball has links at its top (pxelinux.0 -> debian-installer/amd64/pxelinux.0).
	tw.WriteHeader(&tar.Header{Name: "./pxelinux.0", Typeflag: tar.TypeSymlink, Linkname: "debian-installer/amd64/pxelinux.0"})
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestImportDebianNetboot(t *testing.T) {
	data := t.TempDir()
	tgz := netboot(t, nil)
	src := filepath.Join(t.TempDir(), "netboot.tar.gz")
	os.WriteFile(src, tgz, 0o644)
	var phases []string
	im := &Importer{DataDir: data, Progress: func(ev Event) {
		if len(phases) == 0 || phases[len(phases)-1] != ev.Phase {
			phases = append(phases, ev.Phase)
		}
	}}
	e, err := im.Import(context.Background(), src, Options{SHA256: strings.ToUpper(sum(tgz))})
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "debian-12-amd64" || e.Layout != LayoutDebianNetboot || e.Kernel != "os/debian-12-amd64/debian-installer/amd64/linux" ||
		len(e.Initrds) != 1 || e.Initrds[0] != "os/debian-12-amd64/debian-installer/amd64/initrd.gz" ||
		e.Shim != "os/debian-12-amd64/debian-installer/amd64/bootnetx64.efi" || e.GRUBPrefix != "debian-installer/amd64/grub" ||
		e.SHA256 != sum(tgz) || e.Version != "12 (bookworm)" {
		t.Errorf("entry %+v", e)
	}
	if b, _ := os.ReadFile(filepath.Join(data, e.Kernel)); string(b) != "kernel" {
		t.Errorf("kernel: %q", b)
	}
	if _, err := os.Lstat(filepath.Join(data, e.Dir, "pxelinux.0")); err == nil {
		t.Error("a symbolic link was made")
	}
	if strings.Join(phases, ",") != "verify,unpack,install" {
		t.Errorf("progress phases %v", phases)
	}
	list, err := List(data)
	if err != nil || len(list) != 1 || list[0].SHA256 != e.SHA256 {
		t.Errorf("List: %v %+v", err, list)
	}
	// Again: refused, then --force replaces it.
	if _, err := im.Import(context.Background(), src, Options{}); err == nil || !strings.Contains(err.Error(), "already imported") {
		t.Errorf("second import: %v", err)
	}
	if _, err := im.Import(context.Background(), src, Options{Force: true}); err != nil {
		t.Errorf("--force: %v", err)
	}
	checkNoScratch(t, data)
	// The suggested target is a signed linux target, and the chain.
	s := e.Suggest()
	if l := s.Targets[0]["linux"].(map[string]any); l["secure_boot"] != true || s.SecureBoot["grub_prefix"] != "debian-installer/amd64/grub" {
		t.Errorf("suggestion %+v", s)
	}
}

func TestImportFromURL(t *testing.T) {
	tgz := netboot(t, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(tgz) }))
	defer srv.Close()
	data := t.TempDir()
	im := &Importer{DataDir: data}
	e, err := im.Import(context.Background(), srv.URL+"/debian/netboot.tar.gz", Options{Name: "bookworm"})
	if err != nil || e.Name != "bookworm" || e.Source != srv.URL+"/debian/netboot.tar.gz" {
		t.Fatalf("%v %+v", err, e)
	}
	checkNoScratch(t, data)
}

// A bad input installs nothing and leaves no scratch behind.
func TestImportFailuresLeaveNothing(t *testing.T) {
	good := netboot(t, nil)
	tests := map[string][]byte{
		"checksum":    good,
		"climbs out":  netboot(t, map[string]string{"../evil": "x"}),
		"no layout":   tarOnly(t),
		"truncated":   good[:len(good)/2],
		"not a thing": []byte("hello"),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			data := t.TempDir()
			src := filepath.Join(t.TempDir(), "x.tar.gz")
			os.WriteFile(src, b, 0o644)
			opt := Options{}
			if name == "checksum" {
				opt.SHA256 = strings.Repeat("0", 64)
			}
			if _, err := (&Importer{DataDir: data}).Import(context.Background(), src, opt); err == nil {
				t.Fatal("imported")
			} else {
				t.Log(err)
			}
			checkNoScratch(t, data)
			if l, _ := List(data); len(l) != 0 {
				t.Errorf("catalog: %+v", l)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(data), "evil")); err == nil {
				t.Error("a file was written outside")
			}
		})
	}
}

func tarOnly(t *testing.T) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "README", Typeflag: tar.TypeReg, Size: 2})
	tw.Write([]byte("hi"))
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// checkNoScratch: only finished imports under os/ (and the empty .incoming).
func checkNoScratch(t *testing.T, data string) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(data, Subdir))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") || strings.HasPrefix(e.Name(), ".old-") {
			t.Errorf("scratch left: %s", e.Name())
		}
	}
	inc, _ := os.ReadDir(filepath.Join(data, Subdir, ".incoming"))
	if len(inc) != 0 {
		t.Errorf("downloads left: %v", inc)
	}
}

// An Ubuntu live ISO (casper/) gets its kernel and initrd taken out, and
// the ISO kept for url=; any other ISO is kept whole for sanboot.
func TestImportISO(t *testing.T) {
	for _, tool := range smartostest.ISOTools {
		t.Run(tool, func(t *testing.T) {
			live := t.TempDir()
			writeTree(t, live, map[string]string{"casper/vmlinuz": "kernel", "casper/initrd": "initrd", "md5sum.txt": "x"})
			plain := t.TempDir()
			writeTree(t, plain, map[string]string{"boot/isolinux/isolinux.bin": "x"})
			out := t.TempDir()
			liveISO := smartostest.MakeISO(t, tool, live, "Ubuntu-Server 24.04 LTS amd64", filepath.Join(out, "ubuntu-24.04-live-server-amd64.iso"))
			plainISO := smartostest.MakeISO(t, tool, plain, "RESCUE", filepath.Join(out, "rescue.iso"))
			data := t.TempDir()
			im := &Importer{DataDir: data}
			e, err := im.Import(context.Background(), liveISO, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if e.Layout != LayoutUbuntuLive || e.Name != "ubuntu-24.04-live-server-amd64" || e.Kernel != "os/ubuntu-24.04-live-server-amd64/casper/vmlinuz" ||
				e.ISO != "os/ubuntu-24.04-live-server-amd64/ubuntu-24.04-live-server-amd64.iso" {
				t.Errorf("live: %+v", e)
			}
			if b, _ := os.ReadFile(filepath.Join(data, e.Initrds[0])); string(b) != "initrd" {
				t.Errorf("initrd: %q", b)
			}
			e, err = im.Import(context.Background(), plainISO, Options{})
			if err != nil || e.Layout != LayoutISO || e.Kernel != "" || e.ISO != "os/rescue/rescue.iso" {
				t.Errorf("plain: %v %+v", err, e)
			}
			if s := e.Suggest(); s.Targets[0]["iso"] == nil {
				t.Errorf("plain ISO suggestion: %+v", s)
			}
			// From a URL, the ISO keeps its name (not the partial download's).
			srv := httptest.NewServer(http.FileServer(http.Dir(out)))
			defer srv.Close()
			e, err = im.Import(context.Background(), srv.URL+"/rescue.iso", Options{Name: "rescue-url"})
			if err != nil || e.ISO != "os/rescue-url/rescue.iso" {
				t.Errorf("from a URL: %v %+v", err, e)
			}
			checkNoScratch(t, data)
		})
	}
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(body), 0o644)
	}
}
