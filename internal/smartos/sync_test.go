package smartos

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rackboot/internal/bootfs"
	"rackboot/internal/store"
	"rackboot/internal/store/boltstore"
	"rackboot/internal/store/etcdstore"
	"rackboot/internal/store/etcdstore/etcdtest"
)

const syncBuild = "20240101T000000Z"

// syncCluster is several servers, each with its own data dir served over
// HTTP as serve does (bootfs), sharing one store (or, on etcd, one cluster).
type syncCluster struct {
	t       *testing.T
	stores  func() store.Store // a store for one more server
	mu      sync.Mutex
	servers []*syncServer
}

type syncServer struct {
	name  string
	dir   string
	im    *Importer
	srv   *httptest.Server
	sy    *Syncer
	dead  atomic.Bool
	abort atomic.Value // string: a path whose next GET is cut mid-body
	gets  atomic.Int64
}

// syncBackends runs f with a store shared by every server: one bbolt file
// (several servers in one process), and a real etcd.
func syncBackends(t *testing.T, f func(t *testing.T, c *syncCluster)) {
	t.Run("bolt", func(t *testing.T) {
		st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		f(t, &syncCluster{t: t, stores: func() store.Store { return st }})
	})
	t.Run("etcd", func(t *testing.T) {
		ec := etcdtest.Start(t, 1)
		f(t, &syncCluster{t: t, stores: func() store.Store {
			st, err := etcdstore.Open(context.Background(), etcdstore.Options{Endpoints: ec.Endpoints(), Prefix: "/sync/"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}})
	})
}

func syncLogger(t *testing.T, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(syncTestWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("server", name)
}

type syncTestWriter struct{ t *testing.T }

func (w syncTestWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// add starts one more server.
func (c *syncCluster) add(name string) *syncServer {
	t := c.t
	dir := t.TempDir()
	s := &syncServer{name: name, dir: dir}
	s.abort.Store("")
	s.im = &Importer{DataDir: dir, Store: c.stores(), Logger: syncLogger(t, name)}
	bfs, err := bootfs.New(nil, bootfs.Mount{Prefix: PlatformsSubdir, Dir: filepath.Join(dir, PlatformsSubdir)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bfs.Close() })
	files := http.FileServer(http.FS(bfs))
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.gets.Add(1)
		if p := s.abort.Load().(string); p != "" && strings.HasSuffix(r.URL.Path, p) {
			s.abort.Store("")
			w.WriteHeader(http.StatusOK) // chunked: the cut shows as a short body
			w.Write(make([]byte, 1000))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // the server died mid-body
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	s.sy, err = NewSyncer(s.im, name, c.peersOf(name), SyncOptions{RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, ProgressEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.servers = append(c.servers, s)
	c.mu.Unlock()
	return s
}

// peersOf lists the live servers but name, in the order they were added.
func (c *syncCluster) peersOf(name string) PeersFunc {
	return func(context.Context) ([]Peer, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		var out []Peer
		for _, s := range c.servers {
			if s.name != name && !s.dead.Load() {
				out = append(out, Peer{Name: s.name, URL: s.srv.URL})
			}
		}
		return out, nil
	}
}

// run runs s's syncer until the test ends.
func (s *syncServer) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.sy.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// importBuild imports a generated platform (kernel, archive, hash, stamp, a
// symbolic link and a hard link) on s.
func (s *syncServer) importBuild(t *testing.T, build string, seed uint64) CatalogEntry {
	t.Helper()
	p := writeFile(t, filepath.Join(t.TempDir(), "platform-"+build+".tgz"), tarball(t, platformEntries(build, 300<<10, seed)))
	e, err := s.im.Import(context.Background(), p, ImportOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Manifest.Check(); err != nil {
		t.Fatalf("imported manifest: %v", err)
	}
	return e
}

func (s *syncServer) buildDir(build string) string {
	return filepath.Join(s.dir, PlatformsSubdir, build)
}

func (s *syncServer) status(t *testing.T, build string) PlatformStatus {
	t.Helper()
	all, err := ReadPlatformStatus(context.Background(), s.im.Store)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range all[build] {
		if st.Server == s.name {
			return st
		}
	}
	return PlatformStatus{}
}

func syncWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// noScratch fails if a .tmp-* directory is left in s's platforms dir.
func (s *syncServer) noScratch(t *testing.T) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(s.dir, PlatformsSubdir))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Fatalf("%s: scratch left: %s", s.name, e.Name())
		}
	}
}

// TestSyncFollowsCatalog: a build imported on A is fetched by B, checked,
// installed whole, recorded present on both; a forced re-import with other
// content is followed; removed from the catalog on A, it goes from B.
func TestSyncFollowsCatalog(t *testing.T) {
	syncBackends(t, func(t *testing.T, c *syncCluster) {
		a, b := c.add("a"), c.add("b")
		e := a.importBuild(t, syncBuild, 1)
		a.run(t)
		b.run(t)
		syncWait(t, "b has the build", func() bool { return b.status(t, syncBuild).State == SyncPresent })
		got, err := ComputeManifest(b.buildDir(syncBuild))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e.Manifest) {
			t.Fatalf("b's copy differs from the catalog's manifest:\n%+v\n%+v", got, e.Manifest)
		}
		if l, err := os.Readlink(filepath.Join(b.buildDir(syncBuild), "platform/i86pc/amd64/archive-link")); err != nil || l != "boot_archive" {
			t.Fatalf("symbolic link not made on b: %q, %v", l, err)
		}
		if st := a.status(t, syncBuild); st.State != SyncPresent || st.Manifest != e.Manifest.SHA256 {
			t.Fatalf("a's status: %+v", st)
		}
		if st := b.status(t, syncBuild); st.Bytes != e.Manifest.Bytes || st.Total != e.Manifest.Bytes || st.Error != "" {
			t.Fatalf("b's status: %+v", st)
		}
		if ps, _ := Scan(b.dir); len(ps) != 1 || ps[0].Build != syncBuild {
			t.Fatalf("b's menus would offer %+v", ps)
		}
		b.noScratch(t)

		// A forced re-import on A with other content: B follows.
		e2 := a.importBuild(t, syncBuild, 7)
		if e2.Manifest.SHA256 == e.Manifest.SHA256 {
			t.Fatal("the re-import should have another manifest")
		}
		syncWait(t, "b has the new build", func() bool {
			st := b.status(t, syncBuild)
			return st.State == SyncPresent && st.Manifest == e2.Manifest.SHA256
		})
		if got, _ := ComputeManifest(b.buildDir(syncBuild)); !reflect.DeepEqual(got, e2.Manifest) {
			t.Fatal("b's copy is not the re-imported build")
		}

		if err := a.im.Remove(context.Background(), syncBuild, true); err != nil {
			t.Fatal(err)
		}
		syncWait(t, "b removed the build", func() bool {
			_, err := os.Lstat(b.buildDir(syncBuild))
			return errors.Is(err, os.ErrNotExist)
		})
		syncWait(t, "the status records are gone", func() bool {
			all, err := ReadPlatformStatus(context.Background(), a.im.Store)
			return err == nil && len(all[syncBuild]) == 0
		})
		syncWait(t, "the removed copy deleted", func() bool {
			entries, _ := os.ReadDir(filepath.Join(b.dir, PlatformsSubdir))
			return !slices.ContainsFunc(entries, func(e os.DirEntry) bool { return strings.HasPrefix(e.Name(), ".tmp-") })
		})
	})
}

// TestSyncRefusesCorruptCopy: a file on A no longer matches the manifest;
// B fetches it, refuses it, records the verification error and installs
// nothing.
func TestSyncRefusesCorruptCopy(t *testing.T) {
	syncBackends(t, func(t *testing.T, c *syncCluster) {
		a, b := c.add("a"), c.add("b")
		a.importBuild(t, syncBuild, 1)
		ctx := context.Background()
		if err := a.sy.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		archive := filepath.Join(a.buildDir(syncBuild), filepath.FromSlash(ArchiveFile))
		body, err := os.ReadFile(archive)
		if err != nil {
			t.Fatal(err)
		}
		body[len(body)/2] ^= 0xff // same size, other content
		writeFile(t, archive, body)

		err = b.sy.SyncOnce(ctx)
		if !errors.Is(err, errVerify) || !strings.Contains(err.Error(), "SHA-256") {
			t.Fatalf("SyncOnce = %v, want a verification error", err)
		}
		st := b.status(t, syncBuild)
		if st.State != SyncFailed || !strings.Contains(st.Error, "verification failed") || !strings.Contains(st.Error, "boot_archive") {
			t.Fatalf("b's status: %+v", st)
		}
		if _, err := os.Lstat(b.buildDir(syncBuild)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("b installed a corrupt build: %v", err)
		}
		b.noScratch(t)
	})
}

// TestSyncFallsBackToAnotherPeer: A dies in the middle of the boot archive;
// B takes the rest from C, which has the build too.
func TestSyncFallsBackToAnotherPeer(t *testing.T) {
	syncBackends(t, func(t *testing.T, c *syncCluster) {
		a, b, cc := c.add("a"), c.add("b"), c.add("c")
		e := a.importBuild(t, syncBuild, 1)
		ctx := context.Background()
		if err := a.sy.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if err := cc.sy.SyncOnce(ctx); err != nil { // c fetches from a
			t.Fatal(err)
		}
		a.abort.Store("/" + ArchiveFile)
		cGets := cc.gets.Load()
		if err := b.sy.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if a.abort.Load().(string) != "" {
			t.Fatal("a was never asked for the boot archive")
		}
		if cc.gets.Load() == cGets {
			t.Fatal("c was never asked for anything")
		}
		if got, _ := ComputeManifest(b.buildDir(syncBuild)); !reflect.DeepEqual(got, e.Manifest) {
			t.Fatal("b's copy differs from the manifest")
		}
		if st := b.status(t, syncBuild); st.State != SyncPresent {
			t.Fatalf("b's status: %+v", st)
		}
		b.noScratch(t)
	})
}

// TestSyncRetries: the only peer dies mid-fetch and comes back; B records
// the failure and tries again until it has the build.
func TestSyncRetries(t *testing.T) {
	syncBackends(t, func(t *testing.T, c *syncCluster) {
		a, b := c.add("a"), c.add("b")
		a.importBuild(t, syncBuild, 1)
		if err := a.sy.SyncOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var states []string
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		events := a.im.Store.Watch(ctx, statusKey(syncBuild, "b"))
		go func() {
			for ev := range events {
				mu.Lock()
				if st := string(ev.Value); strings.Contains(st, `"state":"failed"`) {
					states = append(states, SyncFailed)
				}
				mu.Unlock()
			}
		}()
		a.abort.Store("/" + ArchiveFile)
		b.run(t)
		syncWait(t, "b has the build", func() bool { return b.status(t, syncBuild).State == SyncPresent })
		syncWait(t, "the failure was recorded", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Contains(states, SyncFailed)
		})
		b.noScratch(t)
	})
}

// TestSyncAddsMissingManifest: a catalog entry from before manifests gets
// one from the server that has the build on disk; until then the others
// wait, then fetch it.
func TestSyncAddsMissingManifest(t *testing.T) {
	syncBackends(t, func(t *testing.T, c *syncCluster) {
		a, b := c.add("a"), c.add("b")
		e := a.importBuild(t, syncBuild, 1)
		ctx := context.Background()
		// As an older rackboot left it: no manifest anywhere.
		if err := a.im.Store.Txn(ctx, func(tx store.Tx) error {
			old, _, err := txEntry(tx, syncBuild)
			old.Manifest = nil
			if err != nil {
				return err
			}
			return txPut(tx, old)
		}); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(a.buildDir(syncBuild), localManifestName)); err != nil {
			t.Fatal(err)
		}
		if err := b.sy.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if st := b.status(t, syncBuild); st.State != SyncWaiting || !strings.Contains(st.Error, "no manifest") {
			t.Fatalf("b's status without a manifest: %+v", st)
		}
		if err := a.sy.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		cat, err := ReadCatalog(ctx, a.im.Store)
		if err != nil || len(cat) != 1 || !reflect.DeepEqual(cat[0].Manifest, e.Manifest) {
			t.Fatalf("catalog after a's reconcile: %+v, %v", cat, err)
		}
		if err := b.sy.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if st := b.status(t, syncBuild); st.State != SyncPresent {
			t.Fatalf("b's status: %+v", st)
		}
	})
}

// TestSyncNoPeer: a build no live server has waits, and says so.
func TestSyncNoPeer(t *testing.T) {
	syncBackends(t, func(t *testing.T, c *syncCluster) {
		a, b := c.add("a"), c.add("b")
		a.importBuild(t, syncBuild, 1)
		ctx := context.Background()
		if err := a.sy.SyncOnce(ctx); err != nil {
			t.Fatal(err)
		}
		a.dead.Store(true)
		if err := b.sy.SyncOnce(ctx); !errors.Is(err, errNoPeer) {
			t.Fatalf("SyncOnce = %v, want errNoPeer", err)
		}
		if st := b.status(t, syncBuild); st.State != SyncWaiting || !strings.Contains(st.Error, "present on: a") {
			t.Fatalf("b's status: %+v", st)
		}
	})
}

func TestManifestCheck(t *testing.T) {
	dir := t.TempDir()
	for _, f := range platformEntries(syncBuild, 1000, 1)[2:6] {
		writeFile(t, filepath.Join(dir, "platform", strings.TrimPrefix(f.name, "platform-"+syncBuild+"/")), f.body)
	}
	writeFile(t, filepath.Join(dir, "platform", ".hidden"), []byte("x"))
	m, err := ComputeManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Check(); err != nil || len(m.Files) != 4 {
		t.Fatalf("Check = %v, files %+v", err, m.Files)
	}
	for name, edit := range map[string]func(m *Manifest){
		"hash":     func(m *Manifest) { m.Files[0].Size++ },
		"escape":   func(m *Manifest) { m.Files[0].Path = "platform/../../etc/passwd" },
		"hidden":   func(m *Manifest) { m.Files[0].Path = "platform/.x" },
		"outside":  func(m *Manifest) { m.Files[0].Path = "etc/passwd" },
		"link out": func(m *Manifest) { m.Files[0].Link, m.Files[0].SHA256 = "../../x", "" },
		"link abs": func(m *Manifest) { m.Files[0].Link, m.Files[0].SHA256 = "/etc/passwd", "" },
		"no kernel": func(m *Manifest) {
			m.Files = slices.DeleteFunc(m.Files, func(f ManifestFile) bool { return f.Path == KernelFile })
		},
		"bad sha256": func(m *Manifest) { m.Files[0].SHA256 = "zz" },
	} {
		c := *m
		c.Files = slices.Clone(m.Files)
		edit(&c)
		if name != "hash" {
			c.SHA256 = c.sum() // a consistent manifest that is still refused
		}
		if err := c.Check(); err == nil {
			t.Errorf("%s: Check passed", name)
		}
	}
}
