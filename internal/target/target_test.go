package target

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"rackboot/internal/pxe"
)

func decode(t *testing.T, dir, doc string) ([]Target, error) {
	t.Helper()
	var specs []Spec
	if err := yaml.Unmarshal([]byte(doc), &specs); err != nil {
		return nil, err
	}
	return NewAll(specs, dir)
}

func TestDecodeErrors(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "f"), 0o755)
	os.WriteFile(filepath.Join(dir, "f", "linux"), []byte("k"), 0o644)
	os.WriteFile(filepath.Join(dir, "api-token"), []byte("secret"), 0o600)
	os.WriteFile(filepath.Join(dir, "f", "bad.ipxe"), []byte("goto nowhere\n"), 0o644)
	os.Mkdir(filepath.Join(dir, ".incoming"), 0o755)
	os.WriteFile(filepath.Join(dir, ".incoming", "x"), []byte("k"), 0o644)
	tests := map[string]string{
		"- {id: a, linux: {kernel: f/linux}, iso: {file: f/linux}}":                 "one kind per target",
		"- {id: a, floppy: {file: f/linux}}":                                        "unknown target key",
		"- {id: a}":                                                                 "say what it boots",
		"- {id: exit, linux: {kernel: f/linux}}":                                    "taken",
		"- {id: smartos-x, linux: {kernel: f/linux}}":                               "taken",
		"- {id: 2024, linux: {kernel: f/linux}}":                                    "taken",
		"- {id: 'a b', linux: {kernel: f/linux}}":                                   "want letters",
		"- {id: a, linux: {kernel: ../linux}}":                                      "out of the data directory",
		"- {id: a, linux: {kernel: api-token}}":                                     "rackboot's own state",
		"- {id: a, linux: {kernel: .incoming/x}}":                                   "hidden",
		"- {id: a, linux: {kernel: missing}}":                                       "no such file",
		"- {id: a, linux: {kernel: f/linux, cmdline: 'a ${x}'}}":                    "cmdline",
		"- {id: a, linux: {kernel: f/linux, kernal: x}}":                            "unknown key kernal",
		"- {id: a, chain: {url: 'ftp://x/y'}}":                                      "want an absolute",
		"- {id: a, chain: {url: 'http://x/${y}'}}":                                  "expanded",
		"- {id: a, ipxe: {file: f/bad.ipxe}}":                                       "lint problems",
		"- {id: a, linux: {kernel: f/linux}}\n- {id: a, chain: {url: 'http://x/'}}": "used twice",
		"- {id: a, memtest: {}}":                                                    "name an image",
	}
	for doc, want := range tests {
		_, err := decode(t, dir, doc)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error containing %q", doc, err, want)
		}
	}
}

func TestOffered(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "f"), 0o755)
	for _, n := range []string{"linux", "i.iso", "s.ipxe", "m.bin"} {
		os.WriteFile(filepath.Join(dir, "f", n), []byte("#!ipxe\nexit\n"), 0o644)
	}
	ts, err := decode(t, dir, `
- {id: signed, linux: {kernel: f/linux, secure_boot: true}}
- {id: unsigned, linux: {kernel: f/linux}}
- {id: iso, iso: {file: f/i.iso}}
- {id: isoefi, iso: {file: f/i.iso, uefi: true}}
- {id: chain, chain: {url: "http://10.0.0.1/x.ipxe"}}
- {id: script, ipxe: {file: f/s.ipxe}}
- {id: mt, memtest: {bios: f/m.bin}}
`)
	if err != nil {
		t.Fatal(err)
	}
	bios := Client{Arch: pxe.ArchBIOS}
	uefi := Client{Arch: pxe.ArchEFIx8664}
	sb := Client{Arch: pxe.ArchEFIx8664, SecureBoot: true}
	arm := Client{Arch: pxe.ArchEFIARM64}
	want := map[string][4]bool{ // bios, uefi, secure boot, arm64 uefi
		"signed":   {true, true, true, true},
		"unsigned": {true, true, false, true},
		"iso":      {true, false, false, false},
		"isoefi":   {true, true, false, true},
		"chain":    {true, true, false, true},
		"script":   {true, true, false, true},
		"mt":       {true, false, false, false},
	}
	for _, tg := range ts {
		for i, c := range []Client{bios, uefi, sb, arm} {
			if got := tg.Offered(c) == nil; got != want[tg.ID()][i] {
				t.Errorf("%s offered to %+v: %v, want %v", tg.ID(), c, got, !got)
			}
		}
	}
	// Files are served under targets/<id>/ only.
	for _, tg := range ts {
		for _, f := range tg.Files() {
			if !strings.HasPrefix(f.Name, "targets/"+tg.ID()+"/") || !filepath.IsAbs(f.Path) {
				t.Errorf("%s: file %+v", tg.ID(), f)
			}
		}
	}
}

func TestSpecRoundTrip(t *testing.T) {
	in := "- id: a\n  title: \"A b\"\n  chain:\n    url: http://x/\n"
	var specs []Spec
	if err := yaml.Unmarshal([]byte(in), &specs); err != nil {
		t.Fatal(err)
	}
	out, err := yaml.Marshal(specs)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Errorf("round trip:\n%s\nwant\n%s", out, in)
	}
}

// TestStateNeverATargetFile: however a target's file is spelled (absolute,
// through a symbolic link, a state file the relative check did not know),
// a file at the top of the data directory (the API token, the store, its
// pid file, serve.json) or under a hidden directory of it is never served
// as a target's file.
func TestStateNeverATargetFile(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"api-token", "rackboot.db", "rackboot.db.pid", "serve.json"} {
		os.WriteFile(filepath.Join(dir, n), []byte("secret"), 0o600)
	}
	os.MkdirAll(filepath.Join(dir, ".incoming"), 0o755)
	os.WriteFile(filepath.Join(dir, ".incoming", "part"), []byte("partial"), 0o644)
	os.MkdirAll(filepath.Join(dir, "os", "x"), 0o755)
	os.WriteFile(filepath.Join(dir, "os", "x", "linux"), []byte("k"), 0o644)
	os.Symlink("../../api-token", filepath.Join(dir, "os", "x", "token"))
	os.Symlink("../../.incoming/part", filepath.Join(dir, "os", "x", "part"))
	outside := t.TempDir()
	os.Symlink(filepath.Join(dir, "serve.json"), filepath.Join(outside, "serve"))
	for _, name := range []string{
		filepath.Join(dir, "api-token"),
		filepath.Join(dir, "rackboot.db"),
		"rackboot.db.pid",
		filepath.Join(dir, "os", "..", "serve.json"),
		"os/x/token",
		"os/x/part",
		filepath.Join(dir, ".incoming", "part"),
		filepath.Join(outside, "serve"),
	} {
		if p, err := localFile(name, dir); err == nil {
			t.Errorf("localFile(%q) = %q: rackboot's own state served as a target's file", name, p)
		} else if !strings.Contains(err.Error(), "data directory") && !strings.Contains(err.Error(), "own state") {
			t.Errorf("localFile(%q): %v: want an error saying why", name, err)
		}
	}
	// What targets are for still works, relative or absolute.
	for _, name := range []string{"os/x/linux", filepath.Join(dir, "os", "x", "linux")} {
		if _, err := localFile(name, dir); err != nil {
			t.Errorf("localFile(%q): %v", name, err)
		}
	}
}
