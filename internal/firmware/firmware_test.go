package firmware

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindPrefersEarlierDirsAndKnowsAliases(t *testing.T) {
	mine, debian, fedora := t.TempDir(), t.TempDir(), t.TempDir()
	write(t, mine, "undionly.kpxe", "mine")
	write(t, debian, "undionly.kpxe", "debian")
	write(t, debian, "snponly.efi", "debian-snp")
	write(t, fedora, "ipxe-x86_64.efi", "fedora-ipxe")
	write(t, fedora, "arm64-efi/snponly.efi", "fedora-arm64")
	if err := os.Mkdir(filepath.Join(mine, "ipxe.pxe"), 0o755); err != nil { // a directory is not a build
		t.Fatal(err)
	}

	s := Find([]string{mine, debian, fedora})
	want := map[string]string{
		"undionly.kpxe":     "mine",
		"snponly.efi":       "debian-snp",
		"ipxe.efi":          "fedora-ipxe",
		"arm64/snponly.efi": "fedora-arm64",
	}
	if len(s) != len(want) {
		t.Errorf("found %v, want %d builds", s.Names(), len(want))
	}
	for name, body := range want {
		got, err := fs.ReadFile(s, name)
		if err != nil || string(got) != body {
			t.Errorf("%s: %q, %v; want %q", name, got, err, body)
		}
	}
	if s.Has("ipxe.pxe") {
		t.Error("a directory was taken for a build")
	}
}

func TestOverlay(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "undionly.kpxe", "ipxe")
	under := fstest.MapFS{
		"undionly.kpxe":        {Data: []byte("impostor")},
		"smartos/1/platform/x": {Data: []byte("data")},
	}
	o := Find([]string{dir}).Overlay(under)
	for name, want := range map[string]string{"undionly.kpxe": "ipxe", "smartos/1/platform/x": "data"} {
		f, err := o.Open(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if string(b) != want {
			t.Errorf("%s: %q, want %q", name, b, want)
		}
	}
	if _, err := o.Open("../etc/passwd"); err == nil {
		t.Error("invalid path opened")
	}
	if _, err := o.Open("missing"); !os.IsNotExist(err) {
		t.Errorf("missing: %v", err)
	}
}
