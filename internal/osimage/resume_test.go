package osimage

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// An import wires internal/download (which has the resume tests against a
// cutting server): a first answer cut half way is resumed with a Range
// request in the same import, and the file installed is the whole one.
func TestImportResumesCutDownload(t *testing.T) {
	junk := make([]byte, 1<<20)
	rand.Read(junk)
	body := netboot(t, map[string]string{"debian-installer/amd64/initrd.gz": string(junk)})
	var ranges atomic.Value
	ranges.Store([]string{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ranges.Store(append(ranges.Load().([]string), r.Header.Get("Range")))
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("Range") == "" {
			// Promise the whole file, send half: net/http closes the connection.
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body[:len(body)/2])
			return
		}
		http.ServeContent(w, r, "netboot.tar.gz", time.Unix(1700000000, 0), bytes.NewReader(body))
	}))
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
	if r := ranges.Load().([]string); len(r) != 2 || r[0] != "" || r[1] != "bytes="+strconv.Itoa(len(body)/2)+"-" {
		t.Errorf("requests' Range headers %q: want none, then bytes=%d-", r, len(body)/2)
	}
	checkNoScratch(t, data)
}

// A malformed --sha256 is refused before anything is downloaded.
func TestImportBadChecksumFirst(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) }))
	defer srv.Close()
	for _, bad := range []string{"abc", strings.Repeat("g", 64), "sha256:" + strings.Repeat("0", 64)} {
		_, err := (&Importer{DataDir: t.TempDir()}).Import(context.Background(), srv.URL+"/x.tar.gz", Options{SHA256: bad})
		if err == nil || !strings.Contains(err.Error(), "64 hex digits") {
			t.Errorf("--sha256 %q: %v", bad, err)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("downloaded %d times before refusing the checksum", n)
	}
}
