package smartos

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"rackboot/internal/smartos/smartostest"
)

// A name longer than ISO 9660 allows (and than one NM entry holds), so
// that Rock Ridge must carry it, across a continuation area.
var longName = "boot_archive." + strings.Repeat("very-long-name-", 15) + "manifest"

// isoTree is smartostest.Tree plus a long name and symbolic links that
// point out (which must be skipped), with edit applied before the ISO is made.
func isoTree(t *testing.T, build string, edit func(dir string)) string {
	t.Helper()
	dir := smartostest.Tree(t, t.TempDir(), build, 1<<20)
	plat := filepath.Join(dir, "platform")
	writeFile(t, filepath.Join(plat, "i86pc", "amd64", longName), []byte("manifest\n"))
	for name, target := range map[string]string{"passwd": "/etc/passwd", "up": "../../..", "i86pc/amd64/link": "boot_archive"} {
		if err := os.Symlink(target, filepath.Join(plat, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	if edit != nil {
		edit(dir)
	}
	return dir
}

func makeISO(t *testing.T, tool, dir, volID, name string) string {
	t.Helper()
	return smartostest.MakeISO(t, tool, dir, volID, filepath.Join(t.TempDir(), name))
}

// checkImported compares the installed platform with smartostest.Files.
func checkImported(t *testing.T, dataDir, build string) {
	t.Helper()
	for _, f := range smartostest.Files(build, 1<<20) {
		if got := readPlatformFile(t, dataDir, build, f.Name); !bytes.Equal(got, f.Body) {
			t.Errorf("platform/%s differs from the ISO's", f.Name)
		}
	}
	if got := readPlatformFile(t, dataDir, build, "i86pc/amd64/"+longName); string(got) != "manifest\n" {
		t.Errorf("the file with a long Rock Ridge name: %q", got)
	}
	for _, name := range []string{"passwd", "up", "i86pc/amd64/link"} {
		if _, err := os.Lstat(filepath.Join(dataDir, "smartos", build, "platform", filepath.FromSlash(name))); err == nil {
			t.Errorf("symbolic link platform/%s was copied", name)
		}
	}
	if _, err := os.Lstat(filepath.Join(dataDir, "smartos", build, "boot")); err == nil {
		t.Error("the ISO's boot/ was copied")
	}
}

func TestImportISOFile(t *testing.T) {
	for _, tool := range smartostest.ISOTools {
		t.Run(tool, func(t *testing.T) {
			im, dataDir := newTestImporter(t)
			ctx := context.Background()
			var phases []string
			im.Progress = func(ev ProgressEvent) {
				if len(phases) == 0 || phases[len(phases)-1] != ev.Phase {
					phases = append(phases, ev.Phase)
				}
			}
			iso := makeISO(t, tool, isoTree(t, buildA, nil), "SmartOS", "smartos-"+buildA+".iso")
			e, err := im.Import(ctx, iso, ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(iso)
			sha, md := sums(b)
			if e.Build != buildA || e.Source != iso || e.SHA256 != sha || e.MD5 != md || e.Size != int64(len(b)) {
				t.Fatalf("entry = %+v", e)
			}
			checkImported(t, dataDir, buildA)
			if got := strings.Join(phases, ","); got != "verify,unpack,install,done" {
				t.Errorf("progress phases %s", got)
			}
			assertClean(t, dataDir)

			// Again, by the same name (known before reading) and by another
			// name (known from the stamp inside): nothing changes.
			before := snapshot(t, dataDir, im.Store)
			renamed := filepath.Join(t.TempDir(), "copy.iso")
			if err := os.Link(iso, renamed); err != nil {
				t.Fatal(err)
			}
			for _, src := range []string{iso, renamed} {
				again, err := im.Import(ctx, src, ImportOptions{})
				if err != nil || !reflect.DeepEqual(again, e) {
					t.Fatalf("re-import of %s = %+v, %v; want %+v", src, again, err, e)
				}
			}
			if after := snapshot(t, dataDir, im.Store); after != before {
				t.Fatalf("re-import changed things:\n%s\n---\n%s", before, after)
			}
			assertClean(t, dataDir)
		})
	}
}

func TestImportISOByURL(t *testing.T) {
	for _, tool := range smartostest.ISOTools {
		t.Run(tool, func(t *testing.T) {
			im, dataDir := newTestImporter(t)
			ctx := context.Background()
			b, err := os.ReadFile(makeISO(t, tool, isoTree(t, buildA, nil), "SmartOS", "x.iso"))
			if err != nil {
				t.Fatal(err)
			}
			m := newMirror(t)
			dir := "/SmartOS/" + buildA + "/"
			name := "smartos-" + buildA + ".iso"
			sha, md := sums(b)
			m.put(dir+name, b)
			m.put(dir+"md5sums.txt", []byte(fmt.Sprintf("%s  %s\n", md, name)))
			m.put(dir+"SINGLE_USER_ROOT_PASSWORD.txt", []byte("pw-"+buildA+"\n"))
			e, err := im.Import(ctx, m.url(dir+name), ImportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if e.Build != buildA || e.SHA256 != sha || e.MD5 != md || e.RootPassword != "pw-"+buildA {
				t.Fatalf("entry = %+v", e)
			}
			if len(m.requests(dir+"md5sums.txt")) != 1 {
				t.Error("md5sums.txt beside the ISO was not consulted")
			}
			checkImported(t, dataDir, buildA)
			if left, _ := os.ReadDir(im.incomingDir()); len(left) != 0 {
				t.Errorf("download left in .incoming: %v", left)
			}
			// Again: the build is known from the name, so nothing is fetched.
			if again, err := im.Import(ctx, m.url(dir+name), ImportOptions{}); err != nil || !reflect.DeepEqual(again, e) {
				t.Fatalf("re-import = %+v, %v", again, err)
			}
			if n := len(m.requests(dir + name)); n != 1 {
				t.Errorf("%d requests for the ISO, want 1", n)
			}
		})
	}
}

// TestImportISOBuildFromVolumeID: no stamp inside, no build in the file
// name: the volume id names the build.
func TestImportISOBuildFromVolumeID(t *testing.T) {
	im, dataDir := newTestImporter(t)
	const build = "20240301T000000Z"
	noStamp := func(dir string) {
		if err := os.RemoveAll(filepath.Join(dir, "platform", "etc")); err != nil {
			t.Fatal(err)
		}
	}
	iso := makeISO(t, "xorriso", isoTree(t, build, noStamp), "SMARTOS_"+build, "smartos.iso")
	e, err := im.Import(context.Background(), iso, ImportOptions{})
	if err != nil || e.Build != build {
		t.Fatalf("import = %+v, %v; want build %s", e, err, build)
	}
	readPlatformFile(t, dataDir, build, smartostest.Archive)
}

func isoFailureCases(tool string) []failureCase {
	iso := func(t *testing.T, edit func(dir string), name string) string {
		return makeISO(t, tool, isoTree(t, buildA, edit), "SmartOS", name)
	}
	truncated := func(cut func(n int) int) func(t *testing.T, m *testMirror) (string, ImportOptions) {
		return func(t *testing.T, m *testMirror) (string, ImportOptions) {
			b, err := os.ReadFile(iso(t, nil, "smartos-"+buildA+".iso"))
			if err != nil {
				t.Fatal(err)
			}
			return writeFile(t, filepath.Join(t.TempDir(), "smartos-"+buildA+".iso"), b[:cut(len(b))]), ImportOptions{}
		}
	}
	return []failureCase{
		{"no platform", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return iso(t, func(dir string) {
				if err := os.Rename(filepath.Join(dir, "platform"), filepath.Join(dir, "other")); err != nil {
					t.Fatal(err)
				}
			}, "smartos-"+buildA+".iso"), ImportOptions{}
		}, []string{"no platform/ directory at the ISO's root (it holds boot, other): not a SmartOS ISO"}},
		{"no unix", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return iso(t, func(dir string) {
				if err := os.Remove(filepath.Join(dir, "platform", filepath.FromSlash(smartostest.Kernel))); err != nil {
					t.Fatal(err)
				}
			}, "smartos-"+buildA+".iso"), ImportOptions{}
		}, []string{"i86pc/kernel/amd64/unix is missing"}},
		{"no stamp, no name", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return iso(t, func(dir string) {
				if err := os.RemoveAll(filepath.Join(dir, "platform", "etc")); err != nil {
					t.Fatal(err)
				}
			}, "smartos.iso"), ImportOptions{}
		}, []string{"cannot tell the build", "smartos-<build>.iso"}},
		{"truncated in the descriptors", truncated(func(int) int { return 16*2048 + 100 }), []string{"the image is truncated"}},
		{"truncated in the directories", truncated(func(int) int { return 20 * 2048 }), []string{"the image is truncated"}},
		{"truncated in the data", truncated(func(n int) int { return n / 2 }), []string{"the image is truncated"}},
		{"wrong SHA-256", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return iso(t, nil, "smartos-"+buildA+".iso"), ImportOptions{SHA256: strings.Repeat("0", 64)}
		}, []string{"checksum mismatch"}},
		{"ISO URL not found", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return m.url("/SmartOS/smartos-" + buildA + ".iso"), ImportOptions{}
		}, []string{"not found (404)"}},
	}
}

// TestImportISOFailuresLeaveNoTrace: each a clear error, and the data dir
// and the catalog exactly as before.
func TestImportISOFailuresLeaveNoTrace(t *testing.T) {
	for _, tool := range smartostest.ISOTools {
		for _, c := range isoFailureCases(tool) {
			t.Run(tool+"/"+c.name, func(t *testing.T) { assertImportFails(t, c) })
		}
	}
	t.Run("no Rock Ridge", func(t *testing.T) {
		smartostest.RequireTool(t, "genisoimage")
		assertImportFails(t, failureCase{"no Rock Ridge", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			out := filepath.Join(t.TempDir(), "smartos-"+buildA+".iso")
			dir := smartostest.Tree(t, t.TempDir(), buildA, 1<<20)
			if b, err := exec.Command("genisoimage", "-quiet", "-J", "-o", out, dir).CombinedOutput(); err != nil {
				t.Fatalf("genisoimage: %v\n%s", err, b)
			}
			return out, ImportOptions{}
		}, []string{"no Rock Ridge names", "-R"}})
	})
}
