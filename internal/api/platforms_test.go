package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"rackboot/internal/smartos"
	"rackboot/internal/smartos/smartostest"
	"rackboot/internal/store/boltstore"
)

const (
	buildOld = "20240101T000000Z"
	buildNew = "20250101T000000Z"
)

// platformServer is a real API server over HTTP with the platform routes,
// on a fresh data dir, and a mirror to import from.
type platformServer struct {
	url, dataDir string
	token        string
	mirror       *smartostest.Mirror
	importer     *smartos.Importer
}

func newPlatformServer(t *testing.T) *platformServer {
	t.Helper()
	dataDir := t.TempDir()
	st, err := boltstore.Open(dataDir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tokens, _, err := LoadTokens(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	im := &smartos.Importer{DataDir: dataDir, Store: st}
	s := &Server{Token: tokens.Token, OpenReads: true}
	boots := func(ctx context.Context, since time.Time) (map[string]int, error) {
		return map[string]int{buildOld: 3}, nil
	}
	(&Platforms{Importer: im, Boots: boots}).Register(s)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return &platformServer{url: ts.URL, dataDir: dataDir, token: tokens.Token(), mirror: smartostest.NewMirror(t), importer: im}
}

func (ps *platformServer) client() *Client { return &Client{Base: ps.url, Token: ps.token} }

func status(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func TestPlatformImportStreams(t *testing.T) {
	ps := newPlatformServer(t)
	u, tgz := ps.mirror.Add(t, buildNew, 4<<20)
	ps.mirror.SetRate(8 << 20) // about half a second: several progress lines

	// The raw stream: NDJSON lines of progress, then the platform.
	body := strings.NewReader(`{"source":"` + u + `"}`)
	req, _ := http.NewRequest("POST", ps.url+"/api/v1/platforms", body)
	req.Header.Set("Authorization", "Bearer "+ps.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != NDJSON {
		t.Fatalf("status %d, content type %q", resp.StatusCode, ct)
	}
	var msgs []ImportMessage
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var m ImportMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		msgs = append(msgs, m)
	}
	phases := map[string]int{}
	for _, m := range msgs[:len(msgs)-1] {
		if m.Progress == nil {
			t.Fatalf("not a progress line before the end: %+v", m)
		}
		phases[m.Progress.Phase]++
	}
	if phases["download"] < 3 || phases["verify"] == 0 || phases["unpack"] == 0 {
		t.Errorf("progress phases %v: want several download lines, verify and unpack", phases)
	}
	last := msgs[len(msgs)-1]
	if last.Platform == nil || last.Platform.Build != buildNew || last.Platform.MD5 != smartostest.MD5(tgz) ||
		last.Platform.RootPassword != smartostest.Password(buildNew) {
		t.Fatalf("last line %+v", last)
	}

	// The client: the same import again is a no-op, reported as "present".
	var seen []string
	e, err := ps.client().ImportPlatform(context.Background(), ImportRequest{Source: u},
		func(ev smartos.ProgressEvent) { seen = append(seen, ev.Phase) })
	if err != nil || e.Build != buildNew || strings.Join(seen, ",") != "present" {
		t.Fatalf("second import: %+v %v, progress %v", e, err, seen)
	}
}

func TestPlatformImportErrors(t *testing.T) {
	ps := newPlatformServer(t)
	u, _ := ps.mirror.Add(t, buildNew, 1<<20)
	c := ps.client()
	ctx := context.Background()

	anon := &Client{Base: ps.url}
	if _, err := anon.ImportPlatform(ctx, ImportRequest{Source: u}, nil); status(err) != 401 {
		t.Errorf("import without a token: %v, want 401", err)
	}
	if _, err := (&Client{Base: ps.url, Token: "rbt_wrong"}).ImportPlatform(ctx, ImportRequest{Source: u}, nil); status(err) != 401 {
		t.Errorf("import with a wrong token: %v, want 401", err)
	}
	if _, err := c.ImportPlatform(ctx, ImportRequest{Source: "platform.tgz"}, nil); status(err) != 400 ||
		!strings.Contains(err.Error(), "absolute path") {
		t.Errorf("relative path: %v", err)
	}
	// A failure inside the import arrives as the stream's last line.
	_, err := c.ImportPlatform(ctx, ImportRequest{Source: u, SHA256: strings.Repeat("0", 64)}, nil)
	if err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("wrong checksum: %v", err)
	}
	if list, _ := c.Platforms(ctx); len(list) != 0 {
		t.Errorf("catalog after failures: %+v", list)
	}
	for _, w := range []struct{ method, path string }{
		{"POST", "/platforms/" + buildNew + "/default"}, {"POST", "/platforms/" + buildNew + "/pin"},
		{"DELETE", "/platforms/" + buildNew}, {"POST", "/platforms/prune"},
	} {
		if err := anon.Do(ctx, w.method, w.path, PruneRequest{Keep: 1}, nil); status(err) != 401 {
			t.Errorf("%s %s without a token: %v, want 401", w.method, w.path, err)
		}
	}
}

// Closing the connection (Ctrl-C in the CLI) cancels the import on the
// server: no platform, no catalog entry, a partial download kept to resume.
func TestPlatformImportCancelledByClient(t *testing.T) {
	ps := newPlatformServer(t)
	u, _ := ps.mirror.Add(t, buildNew, 8<<20)
	ps.mirror.SetRate(2 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	_, err := ps.client().ImportPlatform(ctx, ImportRequest{Source: u}, func(ev smartos.ProgressEvent) {
		if ev.Phase == "download" && ev.Bytes > 1<<20 {
			once.Do(cancel)
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	part := filepath.Join(ps.dataDir, "smartos", ".incoming", "platform-"+buildNew+".tgz.part")
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, err := ps.importer.ListCatalog(context.Background())
		fi, serr := os.Stat(part)
		_, derr := os.Stat(filepath.Join(ps.dataDir, "smartos", buildNew))
		if err == nil && len(list) == 0 && serr == nil && fi.Size() > 0 && errors.Is(derr, os.ErrNotExist) {
			// The server's download stops soon after the client left.
			size := fi.Size()
			time.Sleep(500 * time.Millisecond)
			if fi, _ := os.Stat(part); fi.Size() == size {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("after cancel: catalog %v %v, partial file %v, platform dir %v", list, err, serr, derr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPlatformCatalogOperations(t *testing.T) {
	ps := newPlatformServer(t)
	c := ps.client()
	ctx := context.Background()
	for _, b := range []string{buildOld, buildNew} {
		u, _ := ps.mirror.Add(t, b, 1<<20)
		if _, err := c.ImportPlatform(ctx, ImportRequest{Source: u}, nil); err != nil {
			t.Fatal(err)
		}
	}
	list, err := c.Platforms(ctx)
	if err != nil || len(list) != 2 || list[0].Build != buildNew || list[1].Boots != 3 || list[0].RootPassword != "" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := c.SetDefaultPlatform(ctx, buildOld); err != nil {
		t.Fatal(err)
	}
	p, err := c.Platform(ctx, buildOld)
	if err != nil || !p.Default || p.RootPassword != smartostest.Password(buildOld) {
		t.Fatalf("show: %+v %v", p, err)
	}
	anon := &Client{Base: ps.url}
	if p, err := anon.Platform(ctx, buildOld); err != nil || p.RootPassword != "" {
		t.Fatalf("anonymous show must leave the rescue password out: %+v %v", p, err)
	}
	if _, err := c.Platform(ctx, "20990101T000000Z"); status(err) != 404 {
		t.Errorf("show missing: %v", err)
	}
	if err := c.SetDefaultPlatform(ctx, "20990101T000000Z"); status(err) != 404 {
		t.Errorf("default missing: %v", err)
	}
	if err := c.RemovePlatform(ctx, buildOld, false); status(err) != 409 || !strings.Contains(err.Error(), "default") {
		t.Errorf("rm default: %v", err)
	}
	if err := c.SetPlatformPinned(ctx, buildNew, true); err != nil {
		t.Fatal(err)
	}
	if removed, err := c.PrunePlatforms(ctx, 0); err != nil || len(removed) != 0 {
		t.Errorf("prune kept nothing it should: %v %v", removed, err)
	}
	if err := c.SetPlatformPinned(ctx, buildNew, false); err != nil {
		t.Fatal(err)
	}
	if removed, err := c.PrunePlatforms(ctx, 0); err != nil || strings.Join(removed, ",") != buildNew {
		t.Errorf("prune: %v %v", removed, err)
	}
	if err := c.RemovePlatform(ctx, buildOld, true); err != nil {
		t.Fatal(err)
	}
	if err := c.RemovePlatform(ctx, buildOld, false); status(err) != 404 {
		t.Errorf("rm twice: %v", err)
	}
	if list, _ := c.Platforms(ctx); len(list) != 0 {
		t.Errorf("left: %+v", list)
	}
}
