package menu

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"rackboot/internal/ipxe"
	"rackboot/internal/pxe"
	"rackboot/internal/target"
)

// targetsYAML is the example, with every kind.
const targetsYAML = `
- id: debian-installer
  title: Debian 12 installer
  linux:
    kernel: debian/amd64/linux
    initrd: [debian/amd64/initrd.gz]
    cmdline: "priority=low console=ttyS0,115200"
    secure_boot: true
- id: rescue-iso
  title: SystemRescue
  iso: {file: iso/systemrescue.iso}
- id: netboot-xyz
  title: netboot.xyz
  chain: {url: "https://boot.netboot.xyz"}
- id: lab-script
  ipxe: {file: scripts/lab.ipxe}
`

// testTargets decodes targetsYAML over a data directory holding its files.
func testTargets(t *testing.T) []target.Target {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"debian/amd64/linux": "kernel", "debian/amd64/initrd.gz": "initrd",
		"iso/systemrescue.iso": "iso", "scripts/lab.ipxe": "#!ipxe\necho lab\nexit\n",
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var specs []target.Spec
	if err := yaml.Unmarshal([]byte(targetsYAML), &specs); err != nil {
		t.Fatal(err)
	}
	ts, err := target.NewAll(specs, dir)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestGoldenTargets(t *testing.T) {
	ts := testTargets(t)
	for _, tt := range []struct {
		name string
		arch pxe.Arch
		def  string
	}{
		{"targets-bios", pxe.ArchBIOS, "debian-installer"},
		{"targets-uefi", pxe.ArchEFIx8664, "rescue-iso"}, // not offered on UEFI: falls back
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := baseOptions()
			o.Targets = ts
			o.Default = tt.def
			if err := Check(o, twoBuilds); err != nil {
				t.Fatalf("Check: %v", err)
			}
			s, err := Build(o, twoBuilds[1:], tt.arch, pxe.Features{}, mac)
			if err != nil {
				t.Fatal(err)
			}
			got := s.Render()
			if ps := ipxe.Lint(got); len(ps) != 0 {
				t.Errorf("lint problems:\n%v\n%s", ps, got)
			}
			golden(t, filepath.Join("testdata", tt.name+".ipxe"), got)
		})
	}
}

func TestTargetDefaultUnknown(t *testing.T) {
	o := baseOptions()
	o.Targets = testTargets(t)
	o.Default = "debian-instaler"
	err := Check(o, nil)
	if err == nil || !strings.Contains(err.Error(), "debian-installer") {
		t.Fatalf("a misspelt target default: %v (want the list naming debian-installer)", err)
	}
}

// A Secure Boot machine's grub.cfg: only the signed Linux target, the
// default it would get in iPXE when that is offered, else exit.
func TestGoldenGRUB(t *testing.T) {
	ts := testTargets(t)
	for _, tt := range []struct{ name, def string }{
		{"secureboot", "debian-installer"},
		{"secureboot-default-not-signed", "netboot-xyz"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := baseOptions()
			o.Targets = ts
			o.Default = tt.def
			got, err := BuildGRUB(o, pxe.ArchEFIx8664, mac)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", tt.name+".grub.cfg"), got)
		})
	}
}

// A kernel command line word that GRUB's lexer reads as an operator or a
// block (|, &, <, >, {, }, ]]: all fine to iPXE) is quoted in grub.cfg,
// so that a Secure Boot machine's whole menu still parses; the kernel gets
// the same words.
func TestGRUBCmdlineQuoted(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "d"), 0o755)
	os.WriteFile(filepath.Join(dir, "d", "linux"), []byte("k"), 0o644)
	words := []string{"a|b", "a&b", "x<y", "x>y", "a{b", "}", "{", "]]", "a#b", "a*b", "[", "x=(y)", "console=ttyS0,115200"}
	var specs []target.Spec
	doc := "- id: weird\n  linux:\n    kernel: d/linux\n    secure_boot: true\n    cmdline: '" + strings.Join(words, " ") + "'\n"
	if err := yaml.Unmarshal([]byte(doc), &specs); err != nil {
		t.Fatal(err)
	}
	ts, err := target.NewAll(specs, dir)
	if err != nil {
		t.Fatal(err)
	}
	o := baseOptions()
	o.Targets = ts
	got, err := BuildGRUB(o, pxe.ArchEFIx8664, mac)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "\tlinux /targets/weird/linux 'a|b' 'a&b' 'x<y' 'x>y' 'a{b' '}' '{' ']]' 'a#b' 'a*b' '[' 'x=(y)' console=ttyS0,115200\n") {
		t.Errorf("linux line:\n%s", got)
	}
	grubScriptCheck(t, got)
}

// The generated grub.cfg parses as GRUB script (grub-script-check from
// grub-common; required when RACKBOOT_GRUB_REQUIRED is set).
func TestGRUBScriptCheck(t *testing.T) {
	o := baseOptions()
	o.Targets = testTargets(t)
	o.Title = `It's "quoted" $x`
	got, err := BuildGRUB(o, pxe.ArchEFIx8664, mac)
	if err != nil {
		t.Fatal(err)
	}
	grubScriptCheck(t, got)
}

// grubScriptCheck runs grub-script-check on a grub.cfg.
func grubScriptCheck(t *testing.T, got []byte) {
	t.Helper()
	bin, err := exec.LookPath("grub-script-check")
	if err != nil {
		if os.Getenv("RACKBOOT_GRUB_REQUIRED") != "" {
			t.Fatalf("grub-script-check: %v (apt-get install grub-common)", err)
		}
		t.Skipf("grub-script-check: %v", err)
	}
	p := filepath.Join(t.TempDir(), "grub.cfg")
	os.WriteFile(p, got, 0o644)
	if out, err := exec.Command(bin, p).CombinedOutput(); err != nil {
		t.Errorf("grub-script-check: %v\n%s\n%s", err, out, got)
	}
}
