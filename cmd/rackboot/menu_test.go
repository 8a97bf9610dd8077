package main

import (
	"strings"
	"testing"

	"rackboot/internal/smartos/smartostest"
)

// `rackboot menu --ipxe-feature multiboot2` shows what a UEFI machine whose
// iPXE advertises multiboot2 gets: SmartOS, which a stock UEFI iPXE is not
// offered.
func TestMenuIPXEFeature(t *testing.T) {
	t.Setenv("RACKBOOT_TOKEN", "")
	dataDir := t.TempDir()
	m := smartostest.NewMirror(t)
	u, _ := m.Add(t, buildNew, 64<<10)
	mustRackboot(t, "platform", "import", u, "--data-dir", dataDir)
	menu := func(extra ...string) (string, error) {
		args := append([]string{"menu", "--mac", "52:54:00:12:34:56", "--arch", "efi-x86_64", "--data-dir", dataDir, "--base-url", "http://10.0.0.1"}, extra...)
		out, _, err := rackboot(t, args...)
		return out, err
	}
	boots := "\n:smartos-" + buildNew + "\n"
	if out, err := menu(); err != nil || strings.Contains(out, boots) || !strings.Contains(out, "did not advertise multiboot2") {
		t.Errorf("stock UEFI iPXE: %v\n%s", err, out)
	}
	for _, flags := range [][]string{
		{"--ipxe-feature", "multiboot2"},
		{"--ipxe-feature", "https,efi", "--ipxe-feature", "MBOOT2"},
		{"--ipxe-feature", "0x2a"},
	} {
		out, err := menu(flags...)
		if err != nil || !strings.Contains(out, boots) || !strings.Contains(out, "choose --default smartos-"+buildNew+" ") {
			t.Errorf("%v: %v\n%s", flags, err, out)
		}
	}
	if out, err := menu("--ipxe-feature", "https,efi,multiboot"); err != nil || strings.Contains(out, boots) {
		t.Errorf("multiboot without 2: %v\n%s", err, out)
	}
	if _, err := menu("--ipxe-feature", "multiboot3"); err == nil {
		t.Error("--ipxe-feature multiboot3 accepted")
	}
}
