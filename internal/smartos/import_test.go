package smartos

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

const (
	buildA = "20240101T000000Z"
	buildB = "20240201T000000Z"
)

func readPlatformFile(t *testing.T, dataDir, build, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "smartos", build, "platform", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertClean checks no temporary directory and no finished download is left.
func assertClean(t *testing.T, dataDir string) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(dataDir, "smartos"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary dir left: %s", e.Name())
		}
	}
}

func TestImportByURL(t *testing.T) {
	im, dataDir := newTestImporter(t)
	var mu sync.Mutex
	var events []ProgressEvent
	im.Progress = func(ev ProgressEvent) { mu.Lock(); events = append(events, ev); mu.Unlock() }
	m := newMirror(t)
	entries := platformEntries(buildA, 3<<20, 1)
	tgz := tarball(t, entries)
	u := m.addBuild(t, buildA, tgz)

	e, err := im.Import(context.Background(), u, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sha, md := sums(tgz)
	if e.Build != buildA || e.SHA256 != sha || e.MD5 != md || e.Size != int64(len(tgz)) ||
		e.Source != u || e.RootPassword != "pw-"+buildA || e.ImportedAt.IsZero() {
		t.Fatalf("entry = %+v", e)
	}
	if got := readPlatformFile(t, dataDir, buildA, "i86pc/amd64/boot_archive"); !bytes.Equal(got, entries[3].body) {
		t.Fatal("boot_archive content differs from the tarball's")
	}
	if got := readPlatformFile(t, dataDir, buildA, "i86pc/kernel/amd64/unix"); !bytes.Equal(got, entries[2].body) {
		t.Fatal("unix content differs from the tarball's")
	}
	if target, err := os.Readlink(filepath.Join(dataDir, "smartos", buildA, "platform", "i86pc", "amd64", "archive-link")); err != nil || target != "boot_archive" {
		t.Fatalf("symlink inside the platform: %q, %v", target, err)
	}
	if len(m.requests("/SmartOS/"+buildA+"/md5sums.txt")) != 1 {
		t.Fatal("the mirror's md5sums.txt was not consulted")
	}
	cat, err := im.ListCatalog(context.Background())
	if err != nil || len(cat) != 1 || !reflect.DeepEqual(cat[0], e) {
		t.Fatalf("catalog = %+v, %v; want just %+v", cat, err, e)
	}
	assertClean(t, dataDir)
	if left, _ := os.ReadDir(filepath.Join(dataDir, "smartos", ".incoming")); len(left) != 0 {
		t.Fatalf("download left in .incoming: %v", left)
	}
	phases := map[string]bool{}
	var lastDownload ProgressEvent
	for _, ev := range events {
		phases[ev.Phase] = true
		if ev.Phase == "download" {
			lastDownload = ev
		}
	}
	for _, p := range []string{"download", "verify", "install", "done"} {
		if !phases[p] {
			t.Errorf("no %q progress event (got %v)", p, phases)
		}
	}
	if lastDownload.Bytes != int64(len(tgz)) || lastDownload.Total != int64(len(tgz)) {
		t.Errorf("last download event %+v, want bytes = total = %d", lastDownload, len(tgz))
	}
}

func TestImportLatest(t *testing.T) {
	im, dataDir := newTestImporter(t)
	m := newMirror(t)
	im.Mirror = m.url("/SmartOS")
	m.addBuild(t, buildA, tarball(t, platformEntries(buildA, 1<<20, 2)))
	m.put("/SmartOS/latest", []byte("/Joyent_Dev/public/SmartOS/"+buildA+"\n"))
	e, err := im.Import(context.Background(), "latest", ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Build != buildA || e.RootPassword != "pw-"+buildA || e.MD5 == "" {
		t.Fatalf("entry = %+v", e)
	}
	readPlatformFile(t, dataDir, buildA, "i86pc/amd64/boot_archive")
	if u, err := im.LatestURL(context.Background()); err != nil || u != m.url("/SmartOS/"+buildA+"/platform-"+buildA+".tgz") {
		t.Errorf("LatestURL = %q, %v", u, err)
	}
}

func TestImportLatestWithoutLatestObject(t *testing.T) {
	im, dataDir := newTestImporter(t)
	m := newMirror(t)
	im.Mirror = m.url("/SmartOS/")
	m.put("/SmartOS/platform-latest.tgz", tarball(t, platformEntries(buildB, 1<<20, 3)))
	e, err := im.Import(context.Background(), "latest", ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Build != buildB {
		t.Fatalf("build = %q, want %q read from the tarball", e.Build, buildB)
	}
	readPlatformFile(t, dataDir, buildB, "i86pc/kernel/amd64/unix")
}

func TestImportByFile(t *testing.T) {
	im, dataDir := newTestImporter(t)
	tgz := tarball(t, platformEntries(buildA, 2<<20, 4))
	src := writeFile(t, filepath.Join(t.TempDir(), "platform-"+buildA+".tgz"), tgz)
	sha, _ := sums(tgz)
	e, err := im.Import(context.Background(), src, ImportOptions{SHA256: strings.ToUpper(sha)})
	if err != nil {
		t.Fatal(err)
	}
	if e.Build != buildA || e.Source != src || e.SHA256 != sha {
		t.Fatalf("entry = %+v", e)
	}
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("the user's tarball was touched: %v", err)
	}
	readPlatformFile(t, dataDir, buildA, "etc/version/platform")
}

// A build downloaded by hand with what MNX publishes beside it: the
// md5sums.txt beside the file is checked, the rescue password kept.
func TestImportByFileWithMirrorFiles(t *testing.T) {
	im, _ := newTestImporter(t)
	tgz := tarball(t, platformEntries(buildA, 1<<20, 4))
	dir := t.TempDir()
	name := "platform-" + buildA + ".tgz"
	src := writeFile(t, filepath.Join(dir, name), tgz)
	writeFile(t, filepath.Join(dir, "SINGLE_USER_ROOT_PASSWORD."+buildA+".txt"), []byte("rescue-pw\n"))
	writeFile(t, filepath.Join(dir, "md5sums.txt"), []byte("0123456789abcdef0123456789abcdef  "+name+"\n"))
	if _, err := im.Import(context.Background(), src, ImportOptions{}); err == nil ||
		!strings.Contains(err.Error(), "checksum mismatch") || !strings.Contains(err.Error(), "md5sums.txt") {
		t.Fatalf("md5sums.txt beside the file not checked: %v", err)
	}
	_, md := sums(tgz)
	writeFile(t, filepath.Join(dir, "md5sums.txt"), []byte(md+"  "+name+"\n"))
	e, err := im.Import(context.Background(), src, ImportOptions{})
	if err != nil || e.RootPassword != "rescue-pw" {
		t.Fatalf("Import = %+v, %v", e, err)
	}
}

func TestImportBuildFromStampNotName(t *testing.T) {
	im, _ := newTestImporter(t)
	src := writeFile(t, filepath.Join(t.TempDir(), "renamed.tgz"), tarball(t, platformEntries(buildB, 1<<10, 5)))
	e, err := im.Import(context.Background(), src, ImportOptions{})
	if err != nil || e.Build != buildB {
		t.Fatalf("Import = %+v, %v; want build %s", e, err, buildB)
	}
}

func TestImportIdempotent(t *testing.T) {
	im, dataDir := newTestImporter(t)
	m := newMirror(t)
	u := m.addBuild(t, buildA, tarball(t, platformEntries(buildA, 1<<20, 6)))
	first, err := im.Import(context.Background(), u, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, dataDir, im.Store)
	second, err := im.Import(context.Background(), u, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(second, first) {
		t.Fatalf("second import returned %+v, want the first entry %+v", second, first)
	}
	if n := len(m.requests("/SmartOS/" + buildA + "/platform-" + buildA + ".tgz")); n != 1 {
		t.Fatalf("tarball fetched %d times, want once", n)
	}
	if after := snapshot(t, dataDir, im.Store); after != before {
		t.Fatalf("re-import changed things:\n%s\n---\n%s", before, after)
	}
}

func TestImportForceReplaces(t *testing.T) {
	im, dataDir := newTestImporter(t)
	ctx := context.Background()
	dir := t.TempDir()
	old := writeFile(t, filepath.Join(dir, "a", "platform-"+buildA+".tgz"), tarball(t, platformEntries(buildA, 1<<20, 7)))
	if _, err := im.Import(ctx, old, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := im.SetPinned(ctx, buildA, true); err != nil {
		t.Fatal(err)
	}
	if err := im.SetDefault(ctx, buildA); err != nil {
		t.Fatal(err)
	}
	newEntries := platformEntries(buildA, 1<<20, 8)
	fresh := writeFile(t, filepath.Join(dir, "b", "platform-"+buildA+".tgz"), tarball(t, newEntries))
	e, err := im.Import(ctx, fresh, ImportOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if !e.Pinned || e.Source != fresh {
		t.Fatalf("entry after force = %+v, want the new source and the pin kept", e)
	}
	if got := readPlatformFile(t, dataDir, buildA, "i86pc/amd64/boot_archive"); !bytes.Equal(got, newEntries[3].body) {
		t.Fatal("force did not replace the platform")
	}
	if def, _ := DefaultBuild(ctx, im.Store); def != buildA {
		t.Fatalf("default = %q after force, want %q", def, buildA)
	}
	assertClean(t, dataDir)
}

// TestImportBogusISO: a file with an ISO's signature and nothing else.
func TestImportBogusISO(t *testing.T) {
	im, dataDir := newTestImporter(t)
	iso := make([]byte, 40000)
	copy(iso[32769:], "CD001")
	src := writeFile(t, filepath.Join(t.TempDir(), "smartos.iso"), iso)
	before := snapshot(t, dataDir, im.Store)
	_, err := im.Import(context.Background(), src, ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "smartos.iso: corrupt ISO 9660 image") {
		t.Fatalf("err = %v, want a corrupt ISO", err)
	}
	if after := snapshot(t, dataDir, im.Store); after != before {
		t.Fatal("a refused ISO changed the data dir")
	}
	assertClean(t, dataDir)
}

func TestCleanLeftovers(t *testing.T) {
	dataDir := t.TempDir()
	for _, d := range []string{".tmp-" + buildA + "-123", ".tmp-rm-" + buildB + "-9", buildA + "/platform", ".incoming"} {
		if err := os.MkdirAll(filepath.Join(dataDir, "smartos", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	part := writeFile(t, filepath.Join(dataDir, "smartos", ".incoming", "platform-x.tgz.part"), []byte("half"))
	removed, err := CleanLeftovers(dataDir)
	if err != nil || len(removed) != 2 {
		t.Fatalf("CleanLeftovers = %v, %v; want two dirs removed", removed, err)
	}
	left, _ := os.ReadDir(filepath.Join(dataDir, "smartos"))
	if len(left) != 2 {
		t.Fatalf("left %v, want the build and .incoming", left)
	}
	if _, err := os.Stat(part); err != nil {
		t.Fatal("a partial download was removed; it must be kept for resuming")
	}
	if removed, err := CleanLeftovers(t.TempDir()); err != nil || removed != nil {
		t.Fatalf("on an empty data dir: %v, %v", removed, err)
	}
}

func TestBuildNames(t *testing.T) {
	for name, want := range map[string]string{
		"platform-20240101T000000Z.tgz":    "20240101T000000Z",
		"platform-20240101T000000Z.tar.gz": "20240101T000000Z",
		"platform-latest.tgz":              "",
		"platform-../x.tgz":                "",
		"platform-.hidden.tgz":             "",
		"smartos-20240101T000000Z.iso":     "20240101T000000Z",
		"smartos-latest.iso":               "",
		"smartos-../x.iso":                 "",
	} {
		if got := buildFromName(name); got != want {
			t.Errorf("buildFromName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestFindSum(t *testing.T) {
	text := []byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  other.tgz\n" +
		"BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB *platform-x.tgz\n" +
		"MD5 (platform-y.tgz) = cccccccccccccccccccccccccccccccc\n" +
		"garbage line\n")
	for name, want := range map[string]string{
		"platform-x.tgz": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
		"platform-y.tgz": "cccccccccccccccccccccccccccccccc",
		"other.tgz":      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"missing.tgz":    "",
	} {
		if got := findSum(text, name); got != want {
			t.Errorf("findSum(%q) = %q, want %q", name, got, want)
		}
	}
}
