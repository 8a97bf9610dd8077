package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"rackboot/internal/smartos/smartostest"
)

// kill -9 in the middle of an import, while it downloads and while it
// unpacks, leaves no half platform where the menu would find it; the next
// command on the data directory removes the unpacking leftovers, and the
// import then completes.
func TestImportKilledLeavesNoHalfPlatform(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "rackboot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	m := smartostest.NewMirror(t)
	url, _ := m.Add(t, buildNew, 48<<20)
	dataDir := t.TempDir()
	platforms := filepath.Join(dataDir, "smartos")
	installed := filepath.Join(platforms, buildNew)

	// killWhen starts an import and kills it as soon as seen() holds.
	killWhen := func(what string, seen func() bool) {
		t.Helper()
		cmd := exec.Command(bin, "platform", "import", url, "--data-dir", dataDir, "--force")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		deadline := time.After(60 * time.Second)
		for !seen() {
			select {
			case err := <-exited:
				t.Fatalf("import ended (%v) before it was %s", err, what)
			case <-deadline:
				cmd.Process.Kill()
				t.Fatalf("import never got to %s", what)
			case <-time.After(time.Millisecond):
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
		if _, err := os.Stat(installed); !os.IsNotExist(err) {
			t.Fatalf("killed while %s: %s exists (%v)", what, installed, err)
		}
	}
	glob := func(pattern string) []string {
		got, _ := filepath.Glob(filepath.Join(platforms, pattern))
		return got
	}

	m.SetRate(8 << 20)
	killWhen("downloading", func() bool { return len(glob(".incoming/*.part")) > 0 })
	m.SetRate(0)
	killWhen("unpacking", func() bool { return len(glob(".tmp-*")) > 0 })
	if len(glob(".tmp-*")) == 0 {
		t.Fatal("the kill left no unpacking directory: the test did not kill mid-unpack")
	}

	out := mustRackboot(t, "platform", "list", "--data-dir", dataDir)
	if strings.Contains(out, buildNew) {
		t.Errorf("a killed import is listed:\n%s", out)
	}
	if left := glob(".tmp-*"); len(left) != 0 {
		t.Errorf("leftovers not removed by the next command: %v", left)
	}
	mustRackboot(t, "platform", "import", url, "--data-dir", dataDir)
	if _, err := os.Stat(filepath.Join(installed, "platform/i86pc/amd64/boot_archive")); err != nil {
		t.Errorf("import after the kills: %v", err)
	}
}
