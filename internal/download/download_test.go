package download

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

func TestContentRange(t *testing.T) {
	for _, c := range []struct {
		in          string
		start, size int64
		bad         bool
	}{
		{in: "bytes 100-199/200", start: 100, size: 200},
		{in: "bytes 0-0/1", start: 0, size: 1},
		{in: "bytes 5-9/*", start: 5, size: -1},
		{in: "", bad: true},
		{in: "bytes */200", bad: true},
		{in: "items 1-2/3", bad: true},
		{in: "bytes x-9/10", bad: true},
		{in: "bytes 1-9/ten", bad: true},
		{in: "bytes 1-9", bad: true},
	} {
		start, size, err := contentRange(c.in)
		if c.bad {
			if err == nil {
				t.Errorf("%q: no error", c.in)
			}
			continue
		}
		if err != nil || start != c.start || size != c.size {
			t.Errorf("%q: %d, %d, %v; want %d, %d", c.in, start, size, err, c.start, c.size)
		}
	}
}

func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"bytes 100-199/200", "bytes 5-9/*", "bytes -/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { contentRange(s) })
}

// cutter serves body (http.ServeContent: Range, If-Range against etag),
// but for its first cuts requests writes the head and only cut bytes of
// the body, then closes the connection, as a flaky mirror does.
type cutter struct {
	mu     sync.Mutex
	body   []byte
	etag   string
	cut    int
	cuts   int
	ranges []string
}

func (c *cutter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.ranges = append(c.ranges, r.Header.Get("Range"))
	cutNow := c.cuts > 0
	if cutNow {
		c.cuts--
	}
	etag := c.etag
	c.mu.Unlock()
	w.Header().Set("ETag", etag)
	if !cutNow {
		http.ServeContent(w, r, "f", time.Unix(1700000000, 0), bytes.NewReader(c.body))
		return
	}
	rec := httptest.NewRecorder()
	rec.Header().Set("ETag", etag)
	http.ServeContent(rec, r, "f", time.Unix(1700000000, 0), bytes.NewReader(c.body))
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	buf.WriteString("HTTP/1.1 " + strconv.Itoa(rec.Code) + " " + http.StatusText(rec.Code) + "\r\n")
	rec.Header().Write(buf)
	buf.WriteString("\r\n")
	b := rec.Body.Bytes()
	buf.Write(b[:min(len(b), c.cut)])
	buf.Flush()
}

func (c *cutter) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ranges...)
}

func random(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// A connection cut mid-body is resumed from the bytes on disk (Range with
// If-Range), within one Fetch.
func TestFetchResumesCut(t *testing.T) {
	body := random(t, 1<<20)
	c := &cutter{body: body, etag: `"v1"`, cut: 300 << 10, cuts: 2}
	srv := httptest.NewServer(c)
	defer srv.Close()
	part := filepath.Join(t.TempDir(), "f.part")
	if err := (Fetcher{Attempts: 4, RetryDelay: time.Millisecond}).Fetch(context.Background(), srv.URL+"/f", part); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(part); !bytes.Equal(got, body) {
		t.Fatalf("got %d bytes unlike the served file", len(got))
	}
	if r := c.seen(); len(r) != 3 || r[0] != "" || r[1] != "bytes=307200-" || r[2] != "bytes=614400-" {
		t.Errorf("Range headers %q: want none, bytes=307200-, bytes=614400-", r)
	}
	if _, err := os.Stat(part + MetaSuffix); err != nil {
		t.Errorf("meta beside the part: %v", err)
	}
}

// A Fetch that runs out of attempts keeps the part; the next Fetch resumes
// it, and a file changed on the server meanwhile is fetched whole.
func TestFetchAcrossRuns(t *testing.T) {
	body := random(t, 1<<20)
	c := &cutter{body: body, etag: `"v1"`, cut: 200 << 10, cuts: 2}
	srv := httptest.NewServer(c)
	defer srv.Close()
	part := filepath.Join(t.TempDir(), "f.part")
	f := Fetcher{Attempts: 2, RetryDelay: time.Millisecond}
	err := f.Fetch(context.Background(), srv.URL+"/f", part)
	if err == nil || !strings.Contains(err.Error(), "2 attempts") || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("a download cut every time: %v", err)
	}
	if fi, err := os.Stat(part); err != nil || fi.Size() != 400<<10 {
		t.Fatalf("kept %v, %v; want %d bytes", fi, err, 400<<10)
	}
	if err := f.Fetch(context.Background(), srv.URL+"/f", part); err != nil {
		t.Fatal(err)
	}
	if r := c.seen()[2:]; len(r) != 1 || r[0] != "bytes=409600-" {
		t.Errorf("second Fetch's Range headers %q: want bytes=409600-", r)
	}
	// Every byte is here: a 416 for the range past the end means done.
	if err := f.Fetch(context.Background(), srv.URL+"/f", part); err != nil {
		t.Fatal(err)
	}
	// The server's file changes: If-Range fails and it is sent whole.
	changed := random(t, 100<<10)
	c.mu.Lock()
	c.body, c.etag = changed, `"v2"`
	c.mu.Unlock()
	os.Truncate(part, 50<<10)
	if err := f.Fetch(context.Background(), srv.URL+"/f", part); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(part); !bytes.Equal(got, changed) {
		t.Errorf("after the server's file changed: %d bytes unlike it", len(got))
	}
}

// A 404 fails at once with the caller's advice; DiscardOnFailure removes
// the part and its meta.
func TestFetchNotFound(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	part := filepath.Join(t.TempDir(), "f.part")
	os.WriteFile(part, []byte("old"), 0o644)
	os.WriteFile(part+MetaSuffix, []byte(`{"url":"x"}`), 0o644)
	f := Fetcher{Attempts: 4, NotFound: "check the build", DiscardOnFailure: true}
	err := f.Fetch(context.Background(), srv.URL+"/f", part)
	if err == nil || !strings.Contains(err.Error(), "not found (404): check the build") {
		t.Fatalf("404: %v", err)
	}
	for _, p := range []string{part, part + MetaSuffix} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s kept after a 404: %v", p, err)
		}
	}
}
