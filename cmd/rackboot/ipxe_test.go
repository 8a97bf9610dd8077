package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rackboot/internal/config"
	"rackboot/internal/ipxe"
	"rackboot/internal/smartos/smartostest"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata golden files")

// The seed's hand-written bootstrap.ipxe: lint fails on it, with file:line
// messages; import turns it into a configuration whose menu lints clean.
func TestIPXELintAndImportSeed(t *testing.T) {
	t.Setenv("RACKBOOT_TOKEN", "")
	seed := filepath.Join("testdata", "bootstrap.ipxe")
	out, _, err := rackboot(t, "ipxe", "lint", seed)
	if err == nil || !strings.Contains(err.Error(), "20 problems") {
		t.Fatalf("lint of the seed: err %v, want 20 problems", err)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 20 || !strings.HasPrefix(lines[0], seed+":1: magic: ") {
		t.Errorf("lint output (want 20 FILE:LINE: lines):\n%s", out)
	}

	imported, _, err := rackboot(t, "ipxe", "import", seed)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "bootstrap.import.yaml")
	if *updateGolden {
		os.WriteFile(golden, []byte(imported), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil || !bytes.Equal(want, []byte(imported)) {
		t.Errorf("import differs from %s (go test -update rewrites it): %v\n%s", golden, err, imported)
	}

	// The configuration it gives is rackboot's: it loads (unknown keys are
	// errors), and with the two builds imported its menu lints clean and
	// starts on the seed's default.
	dataDir := t.TempDir()
	m := smartostest.NewMirror(t)
	for _, b := range []string{"20130808T195337Z", "20130405T010449Z"} {
		u, _ := m.Add(t, b, 16<<10)
		mustRackboot(t, "platform", "import", u, "--data-dir", dataDir)
	}
	cfgFile := filepath.Join(dataDir, "imported.yaml")
	if err := os.WriteFile(cfgFile, []byte(imported+"data_dir: "+dataDir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	if err := c.Load(cfgFile); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	menu := mustRackboot(t, "menu", "--config", cfgFile, "--mac", "52:54:00:12:34:56", "--arch", "bios", "--base-url", "http://10.0.0.1")
	if ps := ipxe.Lint([]byte(menu)); len(ps) != 0 {
		t.Errorf("the imported configuration's menu has lint problems: %v\n%s", ps, menu)
	}
	for _, s := range []string{"menu Welcome to iPXE's Boot Menu\n", "choose --default smartos-20130808T195337Z --timeout ${menu-timeout} target",
		"root_shadow='$5$rbGKkqrW$c3rJPrkCPAc.Idnw0Tv0Grc3A6oHJuL131C2H4ykuXA'", "set menu-timeout 30000"} {
		if !strings.Contains(menu, s) {
			t.Errorf("menu lacks %q:\n%s", s, menu)
		}
	}
	out, _, err = rackboot(t, "ipxe", "lint", writeTemp(t, menu))
	if err != nil || out != "" {
		t.Errorf("lint of the imported menu: %v\n%s", err, out)
	}
}

func writeTemp(t *testing.T, text string) string {
	p := filepath.Join(t.TempDir(), "menu.ipxe")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
