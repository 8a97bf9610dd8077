package smartos

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePlatform creates a build directory with the given files (paths below
// the build dir) holding content.
func writePlatform(t *testing.T, dataDir, build string, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(dataDir, PlatformsSubdir, build)
	for f, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func complete(withHash bool) map[string]string {
	m := map[string]string{KernelFile: "unix-bytes", ArchiveFile: "archive-bytes!"}
	if withHash {
		m[HashFile] = "0123456789abcdef0123456789abcdef01234567\n"
	}
	return m
}

func TestScanMissingDirIsEmpty(t *testing.T) {
	ps, err := Scan(t.TempDir())
	if err != nil || len(ps) != 0 {
		t.Fatalf("Scan = %v, %v; want empty, nil", ps, err)
	}
}

func TestScan(t *testing.T) {
	data := t.TempDir()
	writePlatform(t, data, "20130808T195337Z", complete(true))
	writePlatform(t, data, "20130405T010449Z", complete(false))
	writePlatform(t, data, "20240101T000000Z", complete(false))
	writePlatform(t, data, "custom-build", complete(true))
	writePlatform(t, data, "beta", complete(false))
	writePlatform(t, data, "20250101T000000Z", map[string]string{KernelFile: "k"}) // no archive
	writePlatform(t, data, "20250202T000000Z", map[string]string{KernelFile: "k", ArchiveFile: ""})
	writePlatform(t, data, ".incoming", complete(true))
	writePlatform(t, data, ".20260101T000000Z.tmp", complete(true))
	writePlatform(t, data, "bad+name", complete(true))
	writePlatform(t, data, "empty", nil)
	if err := os.WriteFile(filepath.Join(data, PlatformsSubdir, "platform-x.tgz"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2013, 8, 8, 19, 53, 37, 0, time.UTC)
	archive := filepath.Join(data, PlatformsSubdir, "20130808T195337Z", filepath.FromSlash(ArchiveFile))
	if err := os.Chtimes(archive, mtime, mtime); err != nil {
		t.Fatal(err)
	}

	r, err := ScanReport(data)
	if err != nil {
		t.Fatal(err)
	}
	var builds []string
	for _, p := range r.Platforms {
		builds = append(builds, p.Build)
	}
	want := "20240101T000000Z 20130808T195337Z 20130405T010449Z beta custom-build"
	if got := strings.Join(builds, " "); got != want {
		t.Errorf("order:\n got  %s\n want %s", got, want)
	}
	p := r.Platforms[1]
	if p.Build != "20130808T195337Z" || !p.HasHash || !p.ModTime.Equal(mtime) ||
		p.Size != int64(len("unix-bytes")+len("archive-bytes!")+41) ||
		p.KernelPath != "smartos/20130808T195337Z/platform/i86pc/kernel/amd64/unix" ||
		p.ArchivePath != "smartos/20130808T195337Z/platform/i86pc/amd64/boot_archive" ||
		p.HashPath != "smartos/20130808T195337Z/platform/i86pc/amd64/boot_archive.hash" ||
		p.Dir != filepath.Join(data, "smartos", "20130808T195337Z") {
		t.Errorf("platform: %+v", p)
	}
	if r.Platforms[2].HasHash {
		t.Errorf("%s has no hash file", r.Platforms[2].Build)
	}

	reasons := map[string]string{}
	for _, s := range r.Skipped {
		reasons[s.Name] = s.Reason
	}
	for name, want := range map[string]string{
		"20250101T000000Z":      "no platform/i86pc/amd64/boot_archive",
		"20250202T000000Z":      "boot_archive is empty",
		".incoming":             "import in progress",
		".20260101T000000Z.tmp": "import in progress",
		"bad+name":              "unsafe",
		"empty":                 "no platform/i86pc/kernel/amd64/unix",
	} {
		if !strings.Contains(reasons[name], want) {
			t.Errorf("skipped %s: reason %q, want it to mention %q", name, reasons[name], want)
		}
	}
	if len(r.Skipped) != 6 {
		t.Errorf("skipped %d entries, want 6 (files are ignored): %+v", len(r.Skipped), r.Skipped)
	}
	plain, err := Scan(data)
	if err != nil || len(plain) != len(r.Platforms) {
		t.Errorf("Scan = %d platforms, %v", len(plain), err)
	}
}

func TestScanSymlinks(t *testing.T) {
	data := t.TempDir()
	writePlatform(t, data, "20240101T000000Z", complete(true))
	elsewhere := t.TempDir()
	writePlatform(t, elsewhere, "20230101T000000Z", complete(false))
	root := filepath.Join(data, PlatformsSubdir)
	// A build kept on another disk is listed; an alias of a sibling is not.
	if err := os.Symlink(filepath.Join(elsewhere, PlatformsSubdir, "20230101T000000Z"), filepath.Join(root, "20230101T000000Z")); err != nil {
		t.Skip("no symlinks here:", err)
	}
	if err := os.Symlink("20240101T000000Z", filepath.Join(root, "latest")); err != nil {
		t.Fatal(err)
	}
	r, err := ScanReport(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Platforms) != 2 || r.Platforms[1].Build != "20230101T000000Z" {
		t.Errorf("platforms: %+v", r.Platforms)
	}
	if len(r.Skipped) != 1 || r.Skipped[0].Name != "latest" || !strings.Contains(r.Skipped[0].Reason, "alias of 20240101T000000Z") {
		t.Errorf("skipped: %+v", r.Skipped)
	}
}

func TestSortNewestFirst(t *testing.T) {
	ps := []Platform{{Build: "zeta"}, {Build: "20130405T010449Z"}, {Build: "alpha"}, {Build: "20240101T000000Z"}, {Build: "2024"}}
	SortNewestFirst(ps)
	var got []string
	for _, p := range ps {
		got = append(got, p.Build)
	}
	if strings.Join(got, " ") != "20240101T000000Z 20130405T010449Z 2024 alpha zeta" {
		t.Errorf("got %v", got)
	}
	if !IsBuildID("20130808T195337Z") || IsBuildID("20130808T195337") || IsBuildID("latest") {
		t.Error("IsBuildID")
	}
}
