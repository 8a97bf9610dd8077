//go:build linux

package smartos

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"rackboot/internal/store/boltstore"
)

// TestImportDiskFull imports a platform larger than the data dir's file
// system (a 2 MiB tmpfs): the error says so, and nothing is left behind.
func TestImportDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dataDir := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dataDir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dataDir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dataDir, err, out)
		}
	})
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	im := &Importer{DataDir: dataDir, Store: st}
	tgz := tarball(t, platformEntries(buildA, 3<<20, 40))
	m := newMirror(t)
	for _, src := range []string{
		writeFile(t, filepath.Join(t.TempDir(), "platform-"+buildA+".tgz"), tgz), // fills it while unpacking
		m.addBuild(t, buildA, tgz), // fills it while downloading
	} {
		checkDiskFull(t, im, dataDir, src)
		os.RemoveAll(filepath.Join(dataDir, "smartos", ".incoming"))
	}
}

func checkDiskFull(t *testing.T, im *Importer, dataDir, src string) {
	t.Helper()
	st := im.Store
	_, err := im.Import(context.Background(), src, ImportOptions{})
	var dfe *diskFullError
	if !errors.As(err, &dfe) {
		t.Fatalf("err = %v, want a disk-full error", err)
	}
	if !strings.Contains(err.Error(), "no space left in "+dataDir) || !strings.Contains(err.Error(), "free some space") {
		t.Fatalf("error %q should say where space ran out and what to do", err)
	}
	left, _ := os.ReadDir(filepath.Join(dataDir, "smartos"))
	if len(left) != 1 || left[0].Name() != ".incoming" {
		t.Fatalf("left in the data dir: %v, want only .incoming", left)
	}
	if cat, _ := ReadCatalog(context.Background(), st); len(cat) != 0 {
		t.Fatalf("catalog after a failed import: %+v", cat)
	}
}
