package firmware

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
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
