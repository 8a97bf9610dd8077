package osimage

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// cutter serves body with ETag and Range support (http.ServeContent), but
// cuts the connection after cut bytes of the next cuts responses.
type cutter struct {
	mu     sync.Mutex
	body   []byte
	cut    int
	cuts   int
	ranges []string // the Range header of each request ("" for none)
}

func (c *cutter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.ranges = append(c.ranges, r.Header.Get("Range"))
	cutNow := c.cuts > 0
	if cutNow {
		c.cuts--
	}
	c.mu.Unlock()
	w.Header().Set("ETag", `"v1"`)
	if !cutNow {
		http.ServeContent(w, r, "netboot.tar.gz", time.Unix(1700000000, 0), bytes.NewReader(c.body))
		return
	}
	// Send the headers of the whole answer and part of its body, then
	// drop the connection, as a flaky mirror or proxy does.
	rec := httptest.NewRecorder()
	rec.Header().Set("ETag", `"v1"`)
	http.ServeContent(rec, r, "netboot.tar.gz", time.Unix(1700000000, 0), bytes.NewReader(c.body))
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	head := "HTTP/1.1 " + strconv.Itoa(rec.Code) + " " + http.StatusText(rec.Code) + "\r\n"
	for k, vs := range rec.Header() {
		for _, v := range vs {
			head += k + ": " + v + "\r\n"
		}
	}
	b := rec.Body.Bytes()
	conn.Write(append([]byte(head+"\r\n"), b[:min(len(b), c.cut)]...))
}

func (c *cutter) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ranges...)
}

// bigNetboot is a netboot tarball of about 1 MiB (an incompressible initrd).
func bigNetboot(t *testing.T) []byte {
	junk := make([]byte, 1<<20)
	rand.Read(junk)
	return netboot(t, map[string]string{"debian-installer/amd64/initrd.gz": string(junk)})
}

// A connection cut mid-download is resumed with a Range request from the
// bytes already on disk, within the same import.
func TestImportResumesCutDownload(t *testing.T) {
	body := bigNetboot(t)
	c := &cutter{body: body, cut: 300 << 10, cuts: 1}
	srv := httptest.NewServer(c)
	defer srv.Close()
	data := t.TempDir()
	im := &Importer{DataDir: data, retryDelay: time.Millisecond}
	e, err := im.Import(context.Background(), srv.URL+"/netboot.tar.gz", Options{SHA256: sum(body)})
	if err != nil {
		t.Fatal(err)
	}
	if e.SHA256 != sum(body) || e.Size != int64(len(body)) {
		t.Errorf("entry %+v", e)
	}
	r := c.seen()
	if len(r) != 2 || r[0] != "" || r[1] != "bytes=307200-" {
		t.Errorf("requests' Range headers %q: want none, then bytes=307200-", r)
	}
	checkNoScratch(t, data)
}

// An import that gives up keeps what it got; the next import of the same
// URL resumes from there instead of starting again.
func TestImportResumesAcrossRuns(t *testing.T) {
	body := bigNetboot(t)
	c := &cutter{body: body, cut: 200 << 10, cuts: downloadAttempts}
	srv := httptest.NewServer(c)
	defer srv.Close()
	data := t.TempDir()
	im := &Importer{DataDir: data, retryDelay: time.Millisecond}
	url := srv.URL + "/netboot.tar.gz"
	if _, err := im.Import(context.Background(), url, Options{}); err == nil || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("a download cut every time: %v", err)
	}
	parts, _ := filepath.Glob(filepath.Join(data, Subdir, ".incoming", "*.part"))
	if len(parts) != 1 {
		t.Fatalf("partial downloads kept: %v", parts)
	}
	if fi, _ := os.Stat(parts[0]); fi.Size() != downloadAttempts*200<<10 {
		t.Errorf("kept %d bytes, want %d", fi.Size(), downloadAttempts*200<<10)
	}
	before := len(c.seen())
	if _, err := im.Import(context.Background(), url, Options{SHA256: sum(body)}); err != nil {
		t.Fatal(err)
	}
	if r := c.seen()[before:]; len(r) != 1 || r[0] != "bytes=819200-" {
		t.Errorf("second import's Range headers %q: want bytes=819200-", r)
	}
	checkNoScratch(t, data)
}

// A malformed --sha256 is refused before anything is downloaded.
func TestImportBadChecksumFirst(t *testing.T) {
	c := &cutter{body: []byte("x")}
	srv := httptest.NewServer(c)
	defer srv.Close()
	for _, bad := range []string{"abc", strings.Repeat("g", 64), "sha256:" + strings.Repeat("0", 64)} {
		_, err := (&Importer{DataDir: t.TempDir()}).Import(context.Background(), srv.URL+"/x.tar.gz", Options{SHA256: bad})
		if err == nil || !strings.Contains(err.Error(), "64 hex digits") {
			t.Errorf("--sha256 %q: %v", bad, err)
		}
	}
	if r := c.seen(); len(r) != 0 {
		t.Errorf("downloaded %d times before refusing the checksum", len(r))
	}
}
