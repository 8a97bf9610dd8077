package smartos

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// importBuilds imports small platforms for the given builds from files.
func importBuilds(t *testing.T, im *Importer, builds ...string) {
	t.Helper()
	for i, b := range builds {
		src := writeFile(t, filepath.Join(t.TempDir(), "platform-"+b+".tgz"), tarball(t, platformEntries(b, 16<<10, uint64(50+i))))
		if _, err := im.Import(context.Background(), src, ImportOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func catalogBuilds(t *testing.T, im *Importer) []string {
	t.Helper()
	cat, err := im.ListCatalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range cat {
		out = append(out, e.Build)
	}
	return out
}

func TestReconcileCatalog(t *testing.T) {
	im, dataDir := newTestImporter(t) // holds hand-copied 20130808T195337Z
	ctx := context.Background()
	writeFile(t, filepath.Join(dataDir, "smartos", "20130808T195337Z", "platform", "root.password"), []byte("secret\n"))
	os.MkdirAll(filepath.Join(dataDir, "smartos", "not-a-platform"), 0o755)
	os.MkdirAll(filepath.Join(dataDir, "smartos", ".tmp-x-1", "platform"), 0o755)
	importBuilds(t, im, buildA)

	added, err := im.ReconcileCatalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 1 || added[0].Build != "20130808T195337Z" || added[0].Source != SourceFoundOnDisk || added[0].RootPassword != "secret" {
		t.Fatalf("added = %+v, want the hand-copied build found on disk", added)
	}
	if got := catalogBuilds(t, im); !slices.Equal(got, []string{buildA, "20130808T195337Z"}) {
		t.Fatalf("catalog = %v, want newest first", got)
	}
	if added, err := im.ReconcileCatalog(ctx); err != nil || len(added) != 0 {
		t.Fatalf("second reconcile added %+v, %v", added, err)
	}
}

func TestImportOfHandCopiedBuildIsNoOp(t *testing.T) {
	im, dataDir := newTestImporter(t)
	before, _ := os.ReadFile(filepath.Join(dataDir, "smartos", "20130808T195337Z", "platform", "i86pc", "amd64", "boot_archive"))
	src := writeFile(t, filepath.Join(t.TempDir(), "platform-20130808T195337Z.tgz"), tarball(t, platformEntries("20130808T195337Z", 1024, 60)))
	e, err := im.Import(context.Background(), src, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Source != SourceFoundOnDisk {
		t.Fatalf("entry %+v, want the found-on-disk entry", e)
	}
	after, _ := os.ReadFile(filepath.Join(dataDir, "smartos", "20130808T195337Z", "platform", "i86pc", "amd64", "boot_archive"))
	if string(before) != string(after) {
		t.Fatal("the hand-copied platform was replaced without force")
	}
}

func TestSetDefault(t *testing.T) {
	im, dataDir := newTestImporter(t)
	ctx := context.Background()
	if def, err := DefaultBuild(ctx, im.Store); err != nil || def != "" {
		t.Fatalf("default on a new store = %q, %v", def, err)
	}
	// On disk (hand-copied) but not in the catalog: reconcile first.
	err := im.SetDefault(ctx, "20130808T195337Z")
	if err == nil || !strings.Contains(err.Error(), "not in the catalog") {
		t.Fatalf("SetDefault of a build not in the catalog: %v", err)
	}
	if err := im.SetDefault(ctx, buildA); err == nil || !strings.Contains(err.Error(), "not on disk") {
		t.Fatalf("SetDefault of a missing build: %v", err)
	}
	importBuilds(t, im, buildA, buildB)
	if err := im.SetDefault(ctx, buildA); err != nil {
		t.Fatal(err)
	}
	if def, _ := DefaultBuild(ctx, im.Store); def != buildA {
		t.Fatalf("default = %q, want %q", def, buildA)
	}
	// In the catalog but deleted by hand: refused, the default is unchanged.
	if err := os.RemoveAll(filepath.Join(dataDir, "smartos", buildB)); err != nil {
		t.Fatal(err)
	}
	if err := im.SetDefault(ctx, buildB); err == nil || !strings.Contains(err.Error(), "not on disk") {
		t.Fatalf("SetDefault of a build missing on disk: %v", err)
	}
	if def, _ := DefaultBuild(ctx, im.Store); def != buildA {
		t.Fatalf("default = %q after a refused SetDefault, want %q", def, buildA)
	}
}

func TestRemove(t *testing.T) {
	im, dataDir := newTestImporter(t)
	ctx := context.Background()
	importBuilds(t, im, buildA, buildB)
	if err := im.SetDefault(ctx, buildA); err != nil {
		t.Fatal(err)
	}
	if err := im.SetPinned(ctx, buildB, true); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dataDir, im.Store)
	for build, want := range map[string]string{buildA: "default platform", buildB: "pinned", "20990101T000000Z": "no such build", "../x": "not a build"} {
		err := im.Remove(ctx, build, false)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Remove(%s) = %v, want an error saying %q", build, err, want)
		}
	}
	if after := snapshot(t, dataDir, im.Store); after != before {
		t.Fatalf("refused removals changed things:\n%s\n---\n%s", before, after)
	}
	if err := im.Remove(ctx, buildA, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "smartos", buildA)); !os.IsNotExist(err) {
		t.Fatalf("removed build's dir still there: %v", err)
	}
	if def, _ := DefaultBuild(ctx, im.Store); def != "" {
		t.Fatalf("default still %q after removing it", def)
	}
	if got := catalogBuilds(t, im); !slices.Equal(got, []string{buildB}) {
		t.Fatalf("catalog = %v", got)
	}
	// A build only on disk (not in the catalog) can be removed too.
	if err := im.Remove(ctx, "20130808T195337Z", false); err != nil {
		t.Fatal(err)
	}
	assertClean(t, dataDir)
}

func TestPrune(t *testing.T) {
	im, dataDir := newTestImporter(t)
	ctx := context.Background()
	builds := []string{"20240101T000000Z", "20240201T000000Z", "20240301T000000Z", "20240401T000000Z", "20240501T000000Z", "20240601T000000Z"}
	importBuilds(t, im, builds...)
	if err := im.SetDefault(ctx, builds[0]); err != nil {
		t.Fatal(err)
	}
	if err := im.SetPinned(ctx, builds[2], true); err != nil {
		t.Fatal(err)
	}
	if _, err := im.Prune(ctx, -1); err == nil {
		t.Fatal("Prune(-1) succeeded")
	}
	removed, err := im.Prune(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{builds[3], builds[1]}; !slices.Equal(removed, want) {
		t.Fatalf("pruned %v, want %v", removed, want)
	}
	want := []string{builds[5], builds[4], builds[2], builds[0]}
	if got := catalogBuilds(t, im); !slices.Equal(got, want) {
		t.Fatalf("catalog after prune = %v, want %v", got, want)
	}
	for _, b := range removed {
		if _, err := os.Stat(filepath.Join(dataDir, "smartos", b)); !os.IsNotExist(err) {
			t.Errorf("pruned %s still on disk", b)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "smartos", "20130808T195337Z")); err != nil {
		t.Error("prune touched a build that is not in the catalog")
	}
	assertClean(t, dataDir)
}
