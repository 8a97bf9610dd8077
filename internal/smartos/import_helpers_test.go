package smartos

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"rackboot/internal/store"
	"rackboot/internal/store/boltstore"
)

// tarEntry is one entry of a generated tarball.
type tarEntry struct {
	name string
	typ  byte
	body []byte
	link string
}

// randBytes returns n reproducible pseudo-random (incompressible) bytes.
func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

// platformEntries is a SmartOS-shaped platform: top dir platform-<build>/,
// kernel, boot archive of archiveSize bytes with its SHA-1, build stamp.
func platformEntries(build string, archiveSize int, seed uint64) []tarEntry {
	top := "platform-" + build + "/"
	archive := randBytes(seed, archiveSize)
	sum := sha1.Sum(archive)
	return []tarEntry{
		{name: top, typ: tar.TypeDir},
		{name: top + "i86pc/", typ: tar.TypeDir},
		{name: top + "i86pc/kernel/amd64/unix", typ: tar.TypeReg, body: randBytes(seed+1, 64<<10)},
		{name: top + "i86pc/amd64/boot_archive", typ: tar.TypeReg, body: archive},
		{name: top + "i86pc/amd64/boot_archive.hash", typ: tar.TypeReg, body: []byte(hex.EncodeToString(sum[:]) + "\n")},
		{name: top + "etc/version/platform", typ: tar.TypeReg, body: []byte(build + "\n")},
		{name: top + "i86pc/amd64/archive-link", typ: tar.TypeSymlink, link: "boot_archive"},
		{name: top + "i86pc/kernel/amd64/unix.hardlink", typ: tar.TypeLink, link: top + "i86pc/kernel/amd64/unix"},
	}
}

// tarball builds a gzip tarball in memory.
func tarball(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Linkname: e.link,
			Size: int64(len(e.body)), ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if e.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, p string, b []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func sums(b []byte) (sha, md string) {
	s, m := sha256.Sum256(b), md5.Sum(b)
	return hex.EncodeToString(s[:]), hex.EncodeToString(m[:])
}

// newTestImporter opens a store in a fresh data dir that already holds one
// hand-copied platform, as in the seed blog post.
func newTestImporter(t *testing.T) (*Importer, string) {
	t.Helper()
	dataDir := t.TempDir()
	st, err := boltstore.Open(dataDir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	handCopied := filepath.Join(dataDir, "smartos", "20130808T195337Z", "platform")
	writeFile(t, filepath.Join(handCopied, "i86pc", "kernel", "amd64", "unix"), []byte("old unix"))
	writeFile(t, filepath.Join(handCopied, "i86pc", "amd64", "boot_archive"), []byte("old archive"))
	im := &Importer{DataDir: dataDir, Store: st, retryDelay: 10 * time.Millisecond}
	return im, dataDir
}

// snapshot describes the data dir (without partial downloads and the store's
// own files) and the whole store, for before/after comparisons.
func snapshot(t *testing.T, dataDir string, st store.Store) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dataDir, p)
		if rel == filepath.Join("smartos", ".incoming") {
			return fs.SkipDir
		}
		if strings.HasPrefix(rel, boltstore.FileName) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v", rel, info.Mode())
		switch {
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s, _ := sums(b)
			line += " " + s
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	kvs, err := st.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		lines = append(lines, fmt.Sprintf("store %s@%d=%s", kv.Key, kv.Revision, kv.Value))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// testMirror is an HTTP server laid out like the SmartOS mirror.
type testMirror struct {
	srv *httptest.Server

	mu    sync.Mutex
	files map[string][]byte // URL path -> content
	etags map[string]string
	reqs  []http.Request // copies of the requests, bodies unread
	cut   map[string]int // path -> for the next request, send this many bytes then drop the connection
	hold  map[string]int // path -> send this many bytes, signal held, wait for the client to go
	held  chan struct{}
}

func newMirror(t *testing.T) *testMirror {
	m := &testMirror{files: map[string][]byte{}, etags: map[string]string{},
		cut: map[string]int{}, hold: map[string]int{}, held: make(chan struct{}, 1)}
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *testMirror) url(p string) string { return m.srv.URL + p }

func (m *testMirror) put(p string, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[p] = b
	s, _ := sums(b)
	m.etags[p] = `"` + s[:16] + `"`
}

// addBuild publishes a build the way MNX does: tarball, md5sums.txt and the
// single-user root password in /SmartOS/<build>/.
func (m *testMirror) addBuild(t *testing.T, build string, tgz []byte) string {
	dir := "/SmartOS/" + build + "/"
	name := "platform-" + build + ".tgz"
	_, md := sums(tgz)
	m.put(dir+name, tgz)
	m.put(dir+"md5sums.txt", []byte(fmt.Sprintf("0123456789abcdef0123456789abcdef  smartos-%s.iso\n%s  %s\n", build, md, name)))
	m.put(dir+"SINGLE_USER_ROOT_PASSWORD.txt", []byte("pw-"+build+"\n"))
	return m.url(dir + name)
}

func (m *testMirror) requests(p string) []http.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []http.Request
	for _, r := range m.reqs {
		if r.URL.Path == p {
			out = append(out, r)
		}
	}
	return out
}

func (m *testMirror) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.reqs = append(m.reqs, *r.Clone(context.Background()))
	b, ok := m.files[r.URL.Path]
	etag := m.etags[r.URL.Path]
	cut, isCut := m.cut[r.URL.Path]
	delete(m.cut, r.URL.Path)
	hold, isHold := m.hold[r.URL.Path]
	delete(m.hold, r.URL.Path)
	m.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", etag)
	if isCut || isHold {
		n := cut
		if isHold {
			n = hold
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:n])
		w.(http.Flusher).Flush()
		if isCut {
			panic(http.ErrAbortHandler) // drop the connection mid-body
		}
		m.held <- struct{}{}
		<-r.Context().Done()
		return
	}
	http.ServeContent(w, r, filepath.Base(r.URL.Path), time.Time{}, bytes.NewReader(b))
}
