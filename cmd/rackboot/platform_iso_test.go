package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rackboot/internal/smartos/smartostest"
)

// An ISO through the command line: imported, listed, then re-imported as a
// no-op; the source recorded is the ISO.
func TestPlatformImportISO(t *testing.T) {
	t.Setenv("RACKBOOT_TOKEN", "")
	dataDir := t.TempDir()
	iso := smartostest.ISO(t, "xorriso", buildNew, 1<<20)
	dd := []string{"--data-dir", dataDir}
	out := mustRackboot(t, append([]string{"platform", "import", iso}, dd...)...)
	if !strings.Contains(out, "imported "+buildNew+" (") {
		t.Errorf("import output:\n%s", out)
	}
	for _, f := range smartostest.Files(buildNew, 1<<20) {
		b, err := os.ReadFile(filepath.Join(dataDir, "smartos", buildNew, "platform", filepath.FromSlash(f.Name)))
		if err != nil || string(b) != string(f.Body) {
			t.Errorf("platform/%s not imported from the ISO: %v", f.Name, err)
		}
	}
	list := listJSON(t, dataDir)
	if len(list) != 1 || list[0].Build != buildNew || list[0].Source != iso {
		t.Fatalf("list = %+v", list)
	}
	out = mustRackboot(t, append([]string{"platform", "import", iso}, dd...)...)
	if !strings.Contains(out, buildNew+" is already imported") {
		t.Errorf("second import:\n%s", out)
	}
}
