package smartos

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// withEntry returns a valid platform plus e; withoutEntry one without the
// entries named (or linking to a name) ending in suffix.
func withEntry(build string, e tarEntry) []tarEntry {
	return append(platformEntries(build, 256<<10, 20), e)
}

func withoutEntry(build, suffix string) []tarEntry {
	var out []tarEntry
	for _, e := range platformEntries(build, 256<<10, 21) {
		if !strings.HasSuffix(e.name, suffix) && !strings.HasSuffix(e.link, suffix) {
			out = append(out, e)
		}
	}
	return out
}

// failureCase is an import that must fail, and words its error must contain.
type failureCase struct {
	name string
	src  func(t *testing.T, m *testMirror) (string, ImportOptions)
	want []string
}

func failureCases() []failureCase {
	top := "platform-" + buildA + "/"
	good := func(t *testing.T) []byte { return tarball(t, platformEntries(buildA, 256<<10, 22)) }
	file := func(t *testing.T, b []byte) string {
		return writeFile(t, filepath.Join(t.TempDir(), "platform-"+buildA+".tgz"), b)
	}
	return []failureCase{
		{"given SHA-256 wrong", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return file(t, good(t)), ImportOptions{SHA256: strings.Repeat("0", 64)}
		}, []string{"checksum mismatch", "SHA-256 expected " + strings.Repeat("0", 64)}},
		{"mirror MD5 wrong", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			u := m.addBuild(t, buildA, good(t))
			m.put("/SmartOS/"+buildA+"/md5sums.txt", []byte(strings.Repeat("f", 32)+"  platform-"+buildA+".tgz\n"))
			return u, ImportOptions{}
		}, []string{"checksum mismatch", "MD5 expected " + strings.Repeat("f", 32), "md5sums.txt", "got "}},
		{"truncated gzip", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			b := good(t)
			return file(t, b[:len(b)/2]), ImportOptions{}
		}, []string{"corrupt tarball"}},
		{"not gzip", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return file(t, []byte("plain text, not a tarball")), ImportOptions{}
		}, []string{"not a gzip file"}},
		{"no unix", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return file(t, tarball(t, withoutEntry(buildA, "/unix"))), ImportOptions{}
		}, []string{"i86pc/kernel/amd64/unix is missing"}},
		{"boot archive hash mismatch", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			es := platformEntries(buildA, 256<<10, 23)
			es[4].body = []byte(strings.Repeat("ab", 20) + "\n")
			return file(t, tarball(t, es)), ImportOptions{}
		}, []string{"boot_archive is corrupt", strings.Repeat("ab", 20)}},
		{"path traversal", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return file(t, tarball(t, withEntry(buildA, tarEntry{name: top + "../../evil", typ: tar.TypeReg, body: []byte("x")}))), ImportOptions{}
		}, []string{"escapes the platform directory"}},
		{"entry outside the top dir", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return file(t, tarball(t, withEntry(buildA, tarEntry{name: "other/x", typ: tar.TypeReg, body: []byte("x")}))), ImportOptions{}
		}, []string{"outside the top directory"}},
		{"absolute name", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return file(t, tarball(t, withEntry(buildA, tarEntry{name: "/tmp/evil", typ: tar.TypeReg, body: []byte("x")}))), ImportOptions{}
		}, []string{"absolute name"}},
		{"symlink pointing out", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return file(t, tarball(t, withEntry(buildA, tarEntry{name: top + "i86pc/out", typ: tar.TypeSymlink, link: "../../../../etc"}))), ImportOptions{}
		}, []string{"points out of the platform"}},
		{"absolute symlink", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return file(t, tarball(t, withEntry(buildA, tarEntry{name: top + "passwd", typ: tar.TypeSymlink, link: "/etc/passwd"}))), ImportOptions{}
		}, []string{"absolute path"}},
		{"symlink chain leading out", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			es := withEntry(buildA, tarEntry{name: top + "i86pc/x", typ: tar.TypeSymlink, link: "d/../.."})
			es = append(es, tarEntry{name: top + "i86pc/d", typ: tar.TypeSymlink, link: ".."})
			return file(t, tarball(t, es)), ImportOptions{}
		}, []string{"resolves outside the platform"}},
		{"hard link through a symlink", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			es := withEntry(buildA, tarEntry{name: top + "i86pc/d", typ: tar.TypeSymlink, link: "amd64"})
			es = append(es, tarEntry{name: top + "h", typ: tar.TypeLink, link: top + "i86pc/d/boot_archive"})
			return file(t, tarball(t, es)), ImportOptions{}
		}, []string{"hard link", "symbolic link"}},
		{"write through a symlink", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			es := withEntry(buildA, tarEntry{name: top + "lnk", typ: tar.TypeSymlink, link: "i86pc"})
			es = append(es, tarEntry{name: top + "lnk/x", typ: tar.TypeReg, body: []byte("x")})
			return file(t, tarball(t, es)), ImportOptions{}
		}, []string{"goes through a symbolic link"}},
		{"device file", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return file(t, tarball(t, withEntry(buildA, tarEntry{name: top + "dev/null", typ: tar.TypeChar}))), ImportOptions{}
		}, []string{"device, FIFO"}},
		{"wrong top dir", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return file(t, tarball(t, []tarEntry{{name: "etc/", typ: tar.TypeDir}})), ImportOptions{}
		}, []string{"not platform-<build>/"}},
		{"URL not found", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			return m.url("/SmartOS/" + buildA + "/platform-" + buildA + ".tgz"), ImportOptions{}
		}, []string{"not found (404)"}},
		{"force with a corrupt tarball keeps the old build", func(t *testing.T, m *testMirror) (string, ImportOptions) {
			b := tarball(t, platformEntries(buildB, 256<<10, 24))
			return writeFile(t, filepath.Join(t.TempDir(), "platform-"+buildB+".tgz"), b[:len(b)-100]), ImportOptions{Force: true}
		}, []string{"corrupt tarball"}},
	}
}

// TestImportFailuresLeaveNoTrace runs imports that must fail and checks that
// the data dir (but for partial downloads) and the catalog are untouched.
func TestImportFailuresLeaveNoTrace(t *testing.T) {
	for _, c := range failureCases() {
		t.Run(c.name, func(t *testing.T) { assertImportFails(t, c) })
	}
}

// assertImportFails runs c's import after a successful one and checks its
// error and that the data dir (but for partial downloads) and the catalog
// are as they were.
func assertImportFails(t *testing.T, c failureCase) {
	t.Helper()
	im, dataDir := newTestImporter(t)
	ctx := context.Background()
	prior := writeFile(t, filepath.Join(t.TempDir(), "platform-"+buildB+".tgz"), tarball(t, platformEntries(buildB, 128<<10, 25)))
	if _, err := im.Import(ctx, prior, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := im.SetDefault(ctx, buildB); err != nil {
		t.Fatal(err)
	}
	m := newMirror(t)
	src, opt := c.src(t, m)
	before := snapshot(t, dataDir, im.Store)
	_, err := im.Import(ctx, src, opt)
	if err == nil {
		t.Fatal("import succeeded, want an error")
	}
	for _, w := range c.want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if after := snapshot(t, dataDir, im.Store); after != before {
		t.Errorf("failed import changed things:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	assertClean(t, dataDir)
	if _, err := os.Lstat(filepath.Join(filepath.Dir(dataDir), "evil")); err == nil {
		t.Error("a traversal entry was written outside the data dir")
	}
}

func TestImportMismatchDeletesDownload(t *testing.T) {
	im, dataDir := newTestImporter(t)
	m := newMirror(t)
	u := m.addBuild(t, buildA, tarball(t, platformEntries(buildA, 256<<10, 26)))
	_, err := im.Import(context.Background(), u, ImportOptions{MD5: strings.Repeat("1", 32)})
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("err = %v", err)
	}
	if left, _ := os.ReadDir(filepath.Join(dataDir, "smartos", ".incoming")); len(left) != 0 {
		t.Fatalf("a download that failed its checksum was kept: %v", left)
	}
}

// TestImportCancelThenResume cancels an import mid-download, checks nothing
// changed, and then that the next import resumes with an HTTP Range request.
func TestImportCancelThenResume(t *testing.T) {
	im, dataDir := newTestImporter(t)
	m := newMirror(t)
	tgz := tarball(t, platformEntries(buildA, 2<<20, 27))
	u := m.addBuild(t, buildA, tgz)
	p := "/SmartOS/" + buildA + "/platform-" + buildA + ".tgz"
	m.hold[p] = len(tgz) / 2
	before := snapshot(t, dataDir, im.Store)

	ctx, cancel := context.WithCancel(context.Background())
	part := filepath.Join(dataDir, "smartos", ".incoming", "platform-"+buildA+".tgz.part")
	go func() {
		<-m.held
		// Cancel once the client has written what it got.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if fi, err := os.Stat(part); err == nil && fi.Size() == int64(len(tgz)/2) {
				break
			}
		}
		cancel()
	}()
	_, err := im.Import(ctx, u, ImportOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if after := snapshot(t, dataDir, im.Store); after != before {
		t.Fatalf("canceled import changed things:\n%s\n---\n%s", before, after)
	}
	assertClean(t, dataDir)
	fi, err := os.Stat(part)
	if err != nil || fi.Size() == 0 {
		t.Fatalf("partial download not kept: %v", err)
	}

	e, err := im.Import(context.Background(), u, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sha, _ := sums(tgz)
	if e.SHA256 != sha {
		t.Fatalf("resumed download has SHA-256 %s, want %s", e.SHA256, sha)
	}
	reqs := m.requests(p)
	if len(reqs) != 2 {
		t.Fatalf("%d tarball requests, want 2", len(reqs))
	}
	if got, want := reqs[1].Header.Get("Range"), "bytes="+strconv.FormatInt(fi.Size(), 10)+"-"; got != want {
		t.Fatalf("second request Range = %q, want %q", got, want)
	}
	if reqs[1].Header.Get("If-Range") == "" {
		t.Fatal("second request has no If-Range: a changed file would be spliced")
	}
}

// TestImportResumesCutConnection drops the connection mid-body; the same
// Import resumes from where it was cut.
func TestImportResumesCutConnection(t *testing.T) {
	im, dataDir := newTestImporter(t)
	m := newMirror(t)
	tgz := tarball(t, platformEntries(buildA, 2<<20, 28))
	u := m.addBuild(t, buildA, tgz)
	p := "/SmartOS/" + buildA + "/platform-" + buildA + ".tgz"
	m.cut[p] = len(tgz) / 3
	e, err := im.Import(context.Background(), u, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sha, _ := sums(tgz); e.SHA256 != sha {
		t.Fatal("resumed download differs from the served file")
	}
	reqs := m.requests(p)
	if len(reqs) != 2 {
		t.Fatalf("%d tarball requests, want 2", len(reqs))
	}
	if reqs[0].Header.Get("Range") != "" {
		t.Fatal("first request had a Range header")
	}
	r := reqs[1].Header.Get("Range")
	if !strings.HasPrefix(r, "bytes=") || r == "bytes=0-" {
		t.Fatalf("second request Range = %q, want bytes=N- with N > 0", r)
	}
	readPlatformFile(t, dataDir, buildA, "i86pc/amd64/boot_archive")
}

// TestImportChangedFileStartsOver: the partial download's file changed on the
// server, so If-Range makes it send the whole new file.
func TestImportChangedFileStartsOver(t *testing.T) {
	im, dataDir := newTestImporter(t)
	m := newMirror(t)
	u := m.addBuild(t, buildA, tarball(t, platformEntries(buildA, 1<<20, 29)))
	p := "/SmartOS/" + buildA + "/platform-" + buildA + ".tgz"
	m.hold[p] = 100 << 10
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-m.held; time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := im.Import(ctx, u, ImportOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	newer := tarball(t, platformEntries(buildA, 1<<20, 30))
	m.addBuild(t, buildA, newer)
	e, err := im.Import(context.Background(), u, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sha, _ := sums(newer); e.SHA256 != sha {
		t.Fatal("old and new bytes were spliced together")
	}
	assertClean(t, dataDir)
}

func TestImportSameDownloadTwiceAtOnce(t *testing.T) {
	im, _ := newTestImporter(t)
	m := newMirror(t)
	tgz := tarball(t, platformEntries(buildA, 1<<20, 31))
	u := m.addBuild(t, buildA, tgz)
	m.hold["/SmartOS/"+buildA+"/platform-"+buildA+".tgz"] = 1000
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := im.Import(ctx, u, ImportOptions{}); done <- err }()
	<-m.held
	_, err := im.Import(context.Background(), u, ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "already downloading") {
		t.Errorf("second import at once: %v, want an error saying it is already downloading", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("first import: %v", err)
	}
}
