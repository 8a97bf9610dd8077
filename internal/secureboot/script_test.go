package secureboot

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The stub parses as GRUB script: grub-script-check (Debian's grub-common)
// reads it as GRUB 2.06 would. Required when RACKBOOT_GRUB_REQUIRED is set.
func TestStubIsGRUBScript(t *testing.T) {
	checkGRUBScript(t, Chain{Prefix: "debian-installer/amd64/grub"}.Stub())
}

func checkGRUBScript(t *testing.T, script []byte) {
	t.Helper()
	bin, err := exec.LookPath("grub-script-check")
	if err != nil {
		if os.Getenv("RACKBOOT_GRUB_REQUIRED") != "" {
			t.Fatalf("grub-script-check: %v (apt-get install grub-common)", err)
		}
		t.Skipf("grub-script-check: %v (apt-get install grub-common)", err)
	}
	p := filepath.Join(t.TempDir(), "grub.cfg")
	if err := os.WriteFile(p, script, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, p).CombinedOutput(); err != nil {
		t.Errorf("grub-script-check: %v\n%s\n%s", err, out, script)
	}
}
