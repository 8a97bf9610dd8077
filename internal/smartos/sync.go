package smartos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"rackboot/internal/store"
)

// Peer is another live server, as far as syncing goes: its name (as in the
// status records) and its HTTP base URL, which serves
// /smartos/<build>/platform/... (http://10.0.0.12:8080).
type Peer struct {
	Name string
	URL  string
}

// PeersFunc lists the live peers, this server excluded, in the order to try
// them.
type PeersFunc func(ctx context.Context) ([]Peer, error)

// SyncOptions tune a Syncer. The zero value is usable.
type SyncOptions struct {
	// Concurrency is how many builds are fetched at once. Default 2.
	Concurrency int
	// Interval is how often the catalog is compared with the disk without
	// being told to (watches and Trigger do it at once). Default 30s.
	Interval time.Duration
	// RetryMin and RetryMax bound the wait before a failed build is tried
	// again (doubling from RetryMin). Defaults 2s and 5m.
	RetryMin, RetryMax time.Duration
	// ProgressEvery is how often a fetch's progress is written to its
	// status record. Default 2s.
	ProgressEvery time.Duration
	// HTTPClient fetches from peers; nil: a client without a total
	// timeout (a boot archive is large) that gives up on a peer that
	// does not answer within 10s.
	HTTPClient *http.Client
}

// Syncer makes this server's platforms follow the catalog: a build in the
// catalog that is not on disk (or differs from the catalog's manifest) is
// fetched file by file from a live peer that has it, each file checked
// against the manifest, and installed in one rename; a build that left the
// catalog is removed. It writes each build's status on this server to the
// store (ReadPlatformStatus), and adds manifests to catalog entries that
// lack one when the build is on its disk.
type Syncer struct {
	im    *Importer
	self  string
	peers PeersFunc
	opt   SyncOptions
	sem   chan struct{}
	wake  chan struct{}

	mu       sync.Mutex
	jobs     map[string]*syncJob
	failures map[string]*syncFailure
	wg       sync.WaitGroup
}

type syncJob struct {
	manifest string
	cancel   context.CancelFunc
	done     chan struct{}
	err      error
}

type syncFailure struct {
	manifest string
	tries    int
	next     time.Time
}

// NewSyncer returns a syncer for im's data dir and store, for the server
// named self (as in the cluster), that fetches from the peers listed by
// peers.
func NewSyncer(im *Importer, self string, peers PeersFunc, opt SyncOptions) (*Syncer, error) {
	if im == nil || im.DataDir == "" || im.Store == nil {
		return nil, errors.New("platform syncer: needs an Importer with a DataDir and a Store")
	}
	if err := validServer(self); err != nil {
		return nil, fmt.Errorf("platform syncer: %w", err)
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 2
	}
	if opt.Interval <= 0 {
		opt.Interval = 30 * time.Second
	}
	if opt.RetryMin <= 0 {
		opt.RetryMin = 2 * time.Second
	}
	if opt.RetryMax < opt.RetryMin {
		opt.RetryMax = max(opt.RetryMin, 5*time.Minute)
	}
	if opt.ProgressEvery <= 0 {
		opt.ProgressEvery = 2 * time.Second
	}
	if opt.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = 10 * time.Second
		opt.HTTPClient = &http.Client{Transport: tr}
	}
	if peers == nil {
		peers = func(context.Context) ([]Peer, error) { return nil, nil }
	}
	return &Syncer{im: im, self: self, peers: peers, opt: opt,
		sem: make(chan struct{}, opt.Concurrency), wake: make(chan struct{}, 1),
		jobs: map[string]*syncJob{}, failures: map[string]*syncFailure{}}, nil
}

// Trigger makes Run compare the catalog with the disk soon (the server
// calls it when the list of peers changes). It never blocks.
func (s *Syncer) Trigger() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run follows the catalog until ctx is done: at start, on every change of
// the catalog or of another server's status, on Trigger, every Interval and
// when a failed build is due again. Fetches under way are cancelled when
// ctx is done, and Run returns once they have ended.
func (s *Syncer) Run(ctx context.Context) error {
	defer s.wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.wg.Add(2)
	go s.watch(ctx, catalogPrefix, func(store.Event) bool { return true })
	go s.watch(ctx, statusPrefix, s.newSource)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
		if err := s.pass(ctx, false); err != nil && ctx.Err() == nil {
			s.im.log().Warn("platform sync", "err", err)
		}
		t.Reset(s.untilNext())
	}
}

// SyncOnce compares the catalog with the disk once, and waits for the
// fetches and removals it started. It returns their errors.
func (s *Syncer) SyncOnce(ctx context.Context) error {
	err := s.pass(ctx, true)
	s.mu.Lock()
	jobs := make([]*syncJob, 0, len(s.jobs))
	for _, j := range s.jobs {
		jobs = append(jobs, j)
	}
	s.mu.Unlock()
	errs := []error{err}
	for _, j := range jobs {
		<-j.done
		errs = append(errs, j.err)
	}
	return errors.Join(errs...)
}

// newSource says whether a status event may let a waiting build go on: a
// build present on another server. Its failures are forgotten, so that it is
// tried at once.
func (s *Syncer) newSource(ev store.Event) bool {
	var st PlatformStatus
	if ev.Type != store.EventPut || json.Unmarshal(ev.Value, &st) != nil || st.State != SyncPresent || st.Server == s.self {
		return false
	}
	s.mu.Lock()
	delete(s.failures, st.Build)
	s.mu.Unlock()
	return true
}

// watch triggers a pass on every event under prefix that wants one, and
// watches again when the store ends the watch.
func (s *Syncer) watch(ctx context.Context, prefix string, wants func(store.Event) bool) {
	defer s.wg.Done()
	for ctx.Err() == nil {
		for ev := range s.im.Store.Watch(ctx, prefix) {
			if wants(ev) {
				s.Trigger()
			}
		}
		s.Trigger() // events may have been missed
		t := time.NewTimer(time.Second)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
}

// untilNext is the wait before the next pass: Interval, or sooner when a
// failed build is due.
func (s *Syncer) untilNext() time.Duration {
	d := s.opt.Interval
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.failures {
		d = min(d, max(time.Until(f.next), 10*time.Millisecond))
	}
	return d
}

// localBuild is a build directory on this server's disk.
type localBuild struct {
	dir      string
	manifest *Manifest // nil: none could be read or computed
	err      error
}

// pass compares the catalog with the disk and starts what must be done.
// With now, failed builds are tried whatever their backoff.
func (s *Syncer) pass(ctx context.Context, now bool) error {
	cat, err := ReadCatalog(ctx, s.im.Store)
	if err != nil {
		return err
	}
	statuses, err := ReadPlatformStatus(ctx, s.im.Store)
	if err != nil {
		return err
	}
	local := s.localBuilds()
	inCatalog := map[string]bool{}
	var errs []error
	for _, e := range cat {
		inCatalog[e.Build] = true
		if err := s.follow(ctx, e, local[e.Build], statuses[e.Build], now); err != nil {
			errs = append(errs, fmt.Errorf("platform %s: %w", e.Build, err))
		}
	}
	s.mu.Lock()
	for b, j := range s.jobs {
		if !inCatalog[b] {
			j.cancel()
		}
	}
	for b := range s.failures {
		if !inCatalog[b] {
			delete(s.failures, b)
		}
	}
	s.mu.Unlock()
	for b, l := range local {
		if !inCatalog[b] && l.manifest != nil && l.err == nil {
			if err := s.remove(ctx, b); err != nil {
				errs = append(errs, fmt.Errorf("remove platform %s: %w", b, err))
			}
		}
	}
	// Status records of builds that left the catalog, any server's.
	for b, ss := range statuses {
		if inCatalog[b] {
			continue
		}
		for _, st := range ss {
			if err := s.im.Store.Delete(ctx, statusKey(b, st.Server)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// localBuilds lists the build directories on disk with their manifests.
// Directories without a manifest get one computed; those that are not
// platforms (no kernel) are left out.
func (s *Syncer) localBuilds() map[string]localBuild {
	out := map[string]localBuild{}
	dirs, err := os.ReadDir(s.im.platformsDir())
	if err != nil {
		return out
	}
	for _, d := range dirs {
		if !d.IsDir() || !validBuild(d.Name()) {
			continue
		}
		dir := filepath.Join(s.im.platformsDir(), d.Name())
		m, err := readLocalManifest(dir)
		out[d.Name()] = localBuild{dir: dir, manifest: m, err: err}
	}
	return out
}

// follow brings one catalog build to what the catalog says on this server.
func (s *Syncer) follow(ctx context.Context, e CatalogEntry, l localBuild, statuses []PlatformStatus, now bool) error {
	if l.dir != "" && l.manifest == nil && l.err == nil {
		// On disk from before manifests, or copied by hand.
		if fi, err := os.Stat(filepath.Join(l.dir, unixPath)); err == nil && fi.Mode().IsRegular() {
			s.im.mu.Lock()
			l.manifest, l.err = localManifest(l.dir)
			s.im.mu.Unlock()
		}
	}
	if e.Manifest == nil {
		if l.manifest == nil {
			return s.setStatus(ctx, statuses, PlatformStatus{Build: e.Build, State: SyncWaiting, Error: errNoManifest.Error()})
		}
		if err := s.addManifest(ctx, e.Build, l.manifest); err != nil {
			return err
		}
		e.Manifest = l.manifest
	}
	if err := e.Manifest.Check(); err != nil {
		return s.setStatus(ctx, statuses, PlatformStatus{Build: e.Build, State: SyncFailed, Error: err.Error()})
	}
	want := e.Manifest.SHA256
	if l.manifest != nil && l.manifest.SHA256 == want {
		s.mu.Lock()
		delete(s.failures, e.Build)
		s.mu.Unlock()
		return s.setStatus(ctx, statuses, PlatformStatus{Build: e.Build, State: SyncPresent, Manifest: want, Total: e.Manifest.Bytes, Bytes: e.Manifest.Bytes})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j, ok := s.jobs[e.Build]; ok {
		if j.manifest != want {
			j.cancel() // the catalog changed under it; the next pass starts again
		}
		return nil
	}
	if f, ok := s.failures[e.Build]; ok && f.manifest == want && !now && time.Now().Before(f.next) {
		return nil
	}
	jctx, cancel := context.WithCancel(ctx)
	j := &syncJob{manifest: want, cancel: cancel, done: make(chan struct{})}
	s.jobs[e.Build] = j
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		j.err = s.fetch(jctx, e)
		s.mu.Lock()
		delete(s.jobs, e.Build)
		if j.err == nil || jctx.Err() != nil || errors.Is(j.err, errSuperseded) {
			delete(s.failures, e.Build)
		} else {
			f := s.failures[e.Build]
			if f == nil || f.manifest != want {
				f = &syncFailure{manifest: want}
				s.failures[e.Build] = f
			}
			f.tries++
			wait := s.opt.RetryMin << min(f.tries-1, 20)
			f.next = time.Now().Add(min(wait, s.opt.RetryMax))
		}
		s.mu.Unlock()
		close(j.done)
		s.Trigger()
	}()
	return nil
}

// addManifest puts m in build's catalog entry if it still has none.
func (s *Syncer) addManifest(ctx context.Context, build string, m *Manifest) error {
	added := false
	err := s.im.Store.Txn(ctx, func(tx store.Tx) error {
		e, ok, err := txEntry(tx, build)
		if err != nil || !ok || e.Manifest != nil {
			return err
		}
		e.Manifest, added = m, true
		return txPut(tx, e)
	})
	if err != nil {
		return fmt.Errorf("add the manifest to the catalog: %w", err)
	}
	if added {
		s.im.log().Info("platform manifest added to the catalog from this server's disk", "build", build, "files", len(m.Files), "manifest", m.SHA256)
	}
	return nil
}

// setStatus writes this server's status of a build, unless the store holds
// the same already.
func (s *Syncer) setStatus(ctx context.Context, current []PlatformStatus, st PlatformStatus) error {
	st.Server = s.self
	for _, c := range current {
		if c.Server == s.self && c.same(st) {
			return nil
		}
	}
	return s.putStatus(ctx, st)
}

func (s *Syncer) putStatus(ctx context.Context, st PlatformStatus) error {
	st.Server, st.Updated = s.self, time.Now().UTC()
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if _, err := s.im.Store.Put(ctx, statusKey(st.Build, s.self), b); err != nil {
		return fmt.Errorf("record the status of %s: %w", st.Build, err)
	}
	return nil
}
