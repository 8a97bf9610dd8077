package httpd

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestProgress: a large download reports progress while it is sent, the
// body arrives intact, Range still works, and the last report plus the
// final FileEvent add up.
func TestProgress(t *testing.T) {
	dir := t.TempDir()
	body := bytes.Repeat([]byte("0123456789abcdef"), 5*progressChunk/16+1000) // 5 MiB and a bit
	os.WriteFile(filepath.Join(dir, "boot_archive"), body, 0o644)
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var (
		mu       sync.Mutex
		progress []FileProgress
		files    []FileEvent
	)
	s := &Server{
		Files:         root.FS(),
		ProgressEvery: time.Nanosecond,
		OnProgress:    func(p FileProgress) { mu.Lock(); progress = append(progress, p); mu.Unlock() },
		OnFile:        func(e FileEvent) { mu.Lock(); files = append(files, e); mu.Unlock() },
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	resp, got := get(t, "GET", ts.URL+"/boot_archive")
	if resp.StatusCode != 200 || got != string(body) {
		t.Fatalf("status %d, %d bytes (want %d)", resp.StatusCode, len(got), len(body))
	}
	mu.Lock()
	if len(progress) < 5 {
		t.Errorf("%d progress reports for 5 MiB, want at least 5", len(progress))
	}
	for i, p := range progress {
		if p.Total != int64(len(body)) || (i > 0 && p.Bytes < progress[i-1].Bytes) || p.Path != "boot_archive" {
			t.Errorf("report %d: %+v", i, p)
		}
	}
	if last := progress[len(progress)-1]; last.Bytes != int64(len(body)) {
		t.Errorf("last report at %d bytes, want %d", last.Bytes, len(body))
	}
	if len(files) != 1 || files[0].Bytes != int64(len(body)) {
		t.Errorf("file events %+v", files)
	}
	progress, files = nil, nil
	mu.Unlock()

	resp, got = get(t, "GET", ts.URL+"/boot_archive", "Range", "bytes=100-3000000")
	if resp.StatusCode != 206 || got != string(body[100:3000001]) {
		t.Fatalf("range: status %d, %d bytes", resp.StatusCode, len(got))
	}
	mu.Lock()
	if len(files) != 1 || files[0].Bytes != 3000000-100+1 {
		t.Errorf("range file events %+v", files)
	}
	mu.Unlock()
}

// recordingWriter is a ResponseWriter whose ReadFrom notes what it was
// given, as net/http's would pass it on to sendfile.
type recordingWriter struct {
	http.ResponseWriter
	readers []io.Reader
}

func (w *recordingWriter) ReadFrom(r io.Reader) (int64, error) {
	w.readers = append(w.readers, r)
	return io.Copy(io.Discard, r)
}

// TestProgressKeepsSendfile: the chunks handed to net/http are one
// *io.LimitedReader around the *os.File itself, the one shape net's
// sendfile accepts, and the outer limit is honoured.
func TestProgressKeepsSendfile(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "archive")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(make([]byte, 3*progressChunk+5))
	f.Seek(0, 0)
	rw := &recordingWriter{ResponseWriter: httptest.NewRecorder()}
	reports := 0
	cw := &countingWriter{ResponseWriter: rw, progress: func(n, total int64) { reports++ }, every: 0}
	outer := &io.LimitedReader{R: f, N: 2*progressChunk + 7}
	n, err := cw.ReadFrom(outer)
	if err != nil || n != 2*progressChunk+7 || outer.N != 0 {
		t.Fatalf("ReadFrom: %d, %v, outer limit left %d", n, err, outer.N)
	}
	if len(rw.readers) != 3 || reports != 3 {
		t.Fatalf("%d chunks, %d reports; want 3 and 3", len(rw.readers), reports)
	}
	for i, r := range rw.readers {
		lr, ok := r.(*io.LimitedReader)
		if !ok {
			t.Fatalf("chunk %d is a %T, want *io.LimitedReader", i, r)
		}
		if _, ok := lr.R.(*os.File); !ok {
			t.Errorf("chunk %d reads from a %T, want the *os.File (sendfile)", i, lr.R)
		}
	}
}

// TestMountPoints: the API, the dashboard and metrics mount beside the file
// routes without a pattern conflict, and each gets its own paths.
func TestMountPoints(t *testing.T) {
	tag := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
	}
	s := &Server{Files: os.DirFS(t.TempDir()), API: tag("api"), Dashboard: tag("dashboard"), Metrics: tag("metrics")}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	for _, tt := range []struct{ method, path, want string }{
		{"GET", "/api/v1/machines", "api"},
		{"PATCH", "/api/v1/machines/x", "api"},
		{"DELETE", "/api/v1/machines/x", "api"},
		{"POST", "/api/v1/token/rotate", "api"},
		{"GET", "/", "dashboard"},
		{"GET", "/ui/app.js", "dashboard"},
		{"GET", "/metrics", "metrics"},
	} {
		if _, body := get(t, tt.method, ts.URL+tt.path); body != tt.want {
			t.Errorf("%s %s went to %q, want %s", tt.method, tt.path, body, tt.want)
		}
	}
}
