// Package smartostest makes SmartOS platform tarballs and a mirror serving
// them the way MNX publishes builds, for tests of the packages that import
// platforms (the API, the CLI). It is not used by rackboot itself.
package smartostest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path"
	"slices"
	"sync"
	"testing"
	"time"
)

// Files of a platform as Tarball writes them, relative to platform/.
const (
	Kernel  = "i86pc/kernel/amd64/unix"
	Archive = "i86pc/amd64/boot_archive"
	Hash    = "i86pc/amd64/boot_archive.hash"
)

// Tarball returns a platform-<build>.tgz the way MNX publishes one: top
// directory platform-<build>/ with the kernel, a boot archive of
// archiveSize pseudo-random (incompressible) bytes, its SHA-1 hash file and
// the build stamp.
func Tarball(tb testing.TB, build string, archiveSize int) []byte {
	tb.Helper()
	top := "platform-" + build + "/"
	files := Files(build, archiveSize)
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	dirs := map[string]bool{}
	mtime := time.Unix(1700000000, 0)
	for _, f := range files {
		for d := path.Dir(top + f.Name); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) { // parents first
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}); err != nil {
			tb.Fatal(err)
		}
	}
	for _, f := range files {
		h := &tar.Header{Name: top + f.Name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.Body)), ModTime: mtime}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write(f.Body); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// File is one file of a generated platform, named relative to platform/.
type File struct {
	Name string
	Body []byte
}

// Files are the files of a platform: the kernel, a boot archive of
// archiveSize pseudo-random (incompressible) bytes, its SHA-1 hash file and
// the build stamp.
func Files(build string, archiveSize int) []File {
	archive := Random(build+"/archive", archiveSize)
	sum := sha1.Sum(archive)
	return []File{
		{Kernel, Random(build+"/unix", 64<<10)},
		{Archive, archive},
		{Hash, []byte(hex.EncodeToString(sum[:]) + "\n")},
		{"etc/version/platform", []byte(build + "\n")},
	}
}

// Random returns n reproducible pseudo-random bytes that depend on seed.
func Random(seed string, n int) []byte {
	var key [32]byte
	copy(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// MD5 returns the hex MD5 of b.
func MD5(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// Mirror is an HTTP server laid out like MNX's SmartOS mirror:
// /<build>/platform-<build>.tgz, /<build>/md5sums.txt,
// /<build>/SINGLE_USER_ROOT_PASSWORD.txt and /latest. It answers Range
// requests. Rate, when set, slows every tarball download to about that
// many bytes per second, so that a test can watch progress or cancel.
type Mirror struct {
	*httptest.Server

	mu    sync.Mutex
	files map[string][]byte
	rate  int
}

// NewMirror starts a mirror, closed when tb ends.
func NewMirror(tb testing.TB) *Mirror {
	m := &Mirror{files: map[string][]byte{}}
	m.Server = httptest.NewServer(http.HandlerFunc(m.serve))
	tb.Cleanup(m.Close)
	return m
}

// Add publishes a build: its tarball, md5sums.txt listing it, the rescue
// root password "pw-<build>", and makes it the latest. It returns the
// tarball's URL.
func (m *Mirror) Add(tb testing.TB, build string, archiveSize int) (url string, tgz []byte) {
	tgz = Tarball(tb, build, archiveSize)
	name := "platform-" + build + ".tgz"
	m.Put("/"+build+"/"+name, tgz)
	m.Put("/"+build+"/md5sums.txt", []byte(fmt.Sprintf("%s  %s\n", MD5(tgz), name)))
	m.Put("/"+build+"/SINGLE_USER_ROOT_PASSWORD.txt", []byte(Password(build)+"\n"))
	m.Put("/latest", []byte("/Joyent_Dev/public/SmartOS/"+build+"\n"))
	return m.URL + "/" + build + "/" + name, tgz
}

// Password is the rescue root password Add publishes for build.
func Password(build string) string { return "pw-" + build }

// Put serves b at p.
func (m *Mirror) Put(p string, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[p] = b
}

// SetRate limits tarball downloads to about bytesPerSecond (0: no limit).
func (m *Mirror) SetRate(bytesPerSecond int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rate = bytesPerSecond
}

func (m *Mirror) serve(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	b, ok := m.files[r.URL.Path]
	rate := m.rate
	m.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", `"`+MD5(b)[:16]+`"`)
	if rate > 0 && path.Ext(r.URL.Path) == ".tgz" {
		w = &slowWriter{ResponseWriter: w, rate: rate}
	}
	http.ServeContent(w, r, path.Base(r.URL.Path), time.Unix(1700000000, 0), bytes.NewReader(b))
}

// slowWriter paces a body: it sleeps after each chunk as the rate says.
type slowWriter struct {
	http.ResponseWriter
	rate int
}

func (s *slowWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := min(len(p), max(s.rate/20, 1))
		k, err := s.ResponseWriter.Write(p[:chunk])
		n += k
		if err != nil {
			return n, err
		}
		s.ResponseWriter.(http.Flusher).Flush()
		time.Sleep(time.Duration(chunk) * time.Second / time.Duration(s.rate))
		p = p[chunk:]
	}
	return n, nil
}
