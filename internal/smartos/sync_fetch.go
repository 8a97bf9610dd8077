package smartos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"

	"path/filepath"
	"slices"
	"strings"
	"time"

	"rackboot/internal/durable"
	"rackboot/internal/store"
)

// errVerify is wrapped by the error of a file that does not match the
// manifest.
var errVerify = errors.New("verification failed")

// errSuperseded: the catalog entry changed or went while fetching.
var errSuperseded = errors.New("the catalog entry changed while fetching; fetching again")

// fetch brings build e from a live peer that has it into place, and
// records its status. The build is written below smartos/.tmp-sync-*, which
// is never served, and renamed into place whole once every file is checked.
func (s *Syncer) fetch(ctx context.Context, e CatalogEntry) (err error) {
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	case <-ctx.Done():
		return ctx.Err()
	}
	want := e.Manifest.SHA256
	st := PlatformStatus{Build: e.Build, State: SyncFetching, Manifest: want, Total: e.Manifest.Bytes}
	defer func() {
		if err == nil || ctx.Err() != nil || errors.Is(err, errSuperseded) {
			return
		}
		st.State, st.Error = SyncFailed, err.Error()
		if errors.Is(err, errNoPeer) {
			st.State = SyncWaiting
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if perr := s.putStatus(wctx, st); perr != nil {
			s.im.log().Warn("platform sync: record the failure", "build", e.Build, "err", perr)
		}
		if st.State == SyncWaiting {
			s.im.log().Info("platform sync waits for a server that has the build", "build", e.Build, "err", err)
			return
		}
		s.im.log().Warn("platform sync failed; will try again", "build", e.Build, "err", err)
	}()
	peers, err := s.sources(ctx, e.Build, want)
	if err != nil {
		return err
	}
	st.Peer = peers[0].Name
	if err := s.putStatus(ctx, st); err != nil {
		return err
	}
	s.im.log().Info("platform sync: fetching", "build", e.Build, "peer", peers[0].Name, "files", len(e.Manifest.Files), "bytes", e.Manifest.Bytes)
	if err := os.MkdirAll(s.im.platformsDir(), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(s.im.platformsDir(), ".tmp-sync-"+e.Build+"-")
	if err != nil {
		return diskFull(err, s.im.platformsDir())
	}
	defer os.RemoveAll(tmp) // a no-op once renamed into place
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	f := fetcher{s: s, ctx: ctx, build: e.Build, peers: peers, st: &st, last: time.Now()}
	if err := f.tree(tmp, e.Manifest); err != nil {
		return err
	}
	if err := checkPlatform(tmp); err != nil {
		return fmt.Errorf("%w: %w", errVerify, err)
	}
	if err := writeLocalManifest(tmp, e.Manifest); err != nil {
		return diskFull(err, s.im.platformsDir())
	}
	if err := durable.Tree(tmp, false); err != nil {
		return diskFull(err, s.im.platformsDir())
	}
	if err := s.install(ctx, tmp, e.Build, want); err != nil {
		return err
	}
	st.State, st.Bytes, st.Peer, st.Error = SyncPresent, e.Manifest.Bytes, "", ""
	if err := s.putStatus(ctx, st); err != nil {
		return err
	}
	s.im.log().Info("platform sync: installed", "build", e.Build, "from", f.peers[0].Name, "bytes", e.Manifest.Bytes)
	return nil
}

var errNoPeer = errors.New("no live server has it")

// sources are the live peers whose status says they hold the build with
// this manifest, in the order PeersFunc gave them.
func (s *Syncer) sources(ctx context.Context, build, manifest string) ([]Peer, error) {
	statuses, err := ReadPlatformStatus(ctx, s.im.Store)
	if err != nil {
		return nil, err
	}
	have := PresentOn(statuses[build], manifest)
	live, err := s.peers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the live servers: %w", err)
	}
	var out []Peer
	for _, p := range live {
		if p.Name != s.self && p.URL != "" && slices.Contains(have, p.Name) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w (present on: %s; live: %s)", errNoPeer, names(have), peerNames(live))
	}
	return out, nil
}

func names(ns []string) string {
	if len(ns) == 0 {
		return "none"
	}
	return strings.Join(ns, ", ")
}

func peerNames(ps []Peer) string {
	var ns []string
	for _, p := range ps {
		ns = append(ns, p.Name)
	}
	return names(ns)
}

// fetcher writes one build's files, falling back to the next peer when one
// fails or sends a file that does not match.
type fetcher struct {
	s     *Syncer
	ctx   context.Context
	build string
	peers []Peer // peers[0] is the current one
	st    *PlatformStatus
	last  time.Time // of the last progress record
}

func (f *fetcher) tree(tmp string, m *Manifest) error {
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return err
	}
	defer root.Close()
	byHash := map[string]string{} // content already fetched: hard link to it
	for _, mf := range m.Files {
		if err := f.ctx.Err(); err != nil {
			return err
		}
		rel := filepath.FromSlash(mf.Path)
		if err := root.MkdirAll(filepath.Dir(rel), 0o755); err != nil {
			return diskFull(err, tmp)
		}
		if mf.Link != "" {
			if err := root.Symlink(filepath.FromSlash(mf.Link), rel); err != nil {
				return err
			}
			continue
		}
		if prev, ok := byHash[mf.SHA256]; ok {
			if err := root.Link(prev, rel); err == nil {
				f.progress(mf.Size)
				continue
			}
		}
		if err := f.file(root, rel, mf); err != nil {
			return diskFull(err, tmp)
		}
		byHash[mf.SHA256] = rel
	}
	return nil
}

// file fetches one file, trying each peer in turn from the current one.
func (f *fetcher) file(root *os.Root, rel string, mf ManifestFile) error {
	var errs []error
	before := f.st.Bytes
	for range len(f.peers) {
		p := f.peers[0]
		f.st.Bytes = before
		err := f.get(root, rel, mf, p)
		if err == nil {
			return nil
		}
		if f.ctx.Err() != nil {
			return f.ctx.Err()
		}
		var dfe *diskFullError
		if errors.As(diskFull(err, ""), &dfe) {
			return err
		}
		errs = append(errs, fmt.Errorf("from %s: %w", p.Name, err))
		f.s.im.log().Warn("platform sync: fetch failed; trying the next server", "build", f.build, "file", mf.Path, "peer", p.Name, "err", err)
		f.peers = append(f.peers[1:], p)
		f.st.Peer = f.peers[0].Name
	}
	return fmt.Errorf("%s: %w", mf.Path, errors.Join(errs...))
}

// SyncUserAgent starts the User-Agent of a Syncer's requests to its peers.
const SyncUserAgent = "rackboot-sync/1"

// get fetches one file from one peer into root, checking its size and
// SHA-256 against the manifest, and fsyncs it.
func (f *fetcher) get(root *os.Root, rel string, mf ManifestFile, p Peer) error {
	u, err := url.Parse(p.URL)
	if err != nil {
		return fmt.Errorf("peer URL %q: %w", p.URL, err)
	}
	u = u.JoinPath(PlatformsSubdir, f.build, mf.Path)
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	// The peer tells our fetch from a machine's boot by this, so that a
	// sync does not show as a boot of whatever machine had our address.
	req.Header.Set("User-Agent", SyncUserAgent+" ("+f.s.self+")")
	resp, err := f.s.opt.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if resp.ContentLength >= 0 && resp.ContentLength != mf.Size {
		return fmt.Errorf("%w: %s is %d bytes at %s, the manifest says %d", errVerify, mf.Path, resp.ContentLength, p.Name, mf.Size)
	}
	root.Remove(rel) // a partial copy from a peer that failed
	mode := fs.FileMode(mf.Mode)&0o755 | 0o644
	w, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	defer w.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h, fetchProgress{f}), io.LimitReader(resp.Body, mf.Size+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	if n != mf.Size {
		return fmt.Errorf("%w: %s: %s sent %d bytes, the manifest says %d", errVerify, mf.Path, p.Name, n, mf.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != mf.SHA256 {
		return fmt.Errorf("%w: %s from %s has SHA-256 %s, the manifest says %s", errVerify, mf.Path, p.Name, got, mf.SHA256)
	}
	if err := w.Sync(); err != nil {
		return err
	}
	return w.Close()
}

type fetchProgress struct{ f *fetcher }

func (p fetchProgress) Write(b []byte) (int, error) {
	p.f.progress(int64(len(b)))
	return len(b), nil
}

// progress counts n bytes and records the status at most every
// ProgressEvery.
func (f *fetcher) progress(n int64) {
	f.st.Bytes += n
	if time.Since(f.last) < f.s.opt.ProgressEvery {
		return
	}
	f.last = time.Now()
	if err := f.s.putStatus(f.ctx, *f.st); err != nil && f.ctx.Err() == nil {
		f.s.im.log().Debug("platform sync: record progress", "build", f.build, "err", err)
	}
}

// install renames the fetched tree into place, if the catalog still wants
// exactly this build; a copy already there (which differs from the catalog)
// is renamed aside first and removed after.
func (s *Syncer) install(ctx context.Context, tmp, build, manifest string) error {
	s.im.mu.Lock()
	defer s.im.mu.Unlock()
	e, err := s.entry(ctx, build)
	if err != nil {
		return err
	}
	if e == nil || e.Manifest == nil || e.Manifest.SHA256 != manifest {
		return errSuperseded
	}
	dir := s.im.platformsDir()
	final := filepath.Join(dir, build)
	var aside string
	if _, err := os.Lstat(final); err == nil {
		if m, _ := readLocalManifest(final); m != nil && m.SHA256 == manifest {
			return nil // imported here meanwhile
		}
		aside = filepath.Join(dir, ".tmp-rm-"+build+"-"+randSuffix())
		if err := os.Rename(final, aside); err != nil {
			return fmt.Errorf("move the old %s aside: %w", build, err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		if aside != "" {
			os.Rename(aside, final)
		}
		return fmt.Errorf("move %s into place: %w", build, err)
	}
	if err := durable.Sync(dir); err != nil {
		s.im.log().Warn("fsync of the platforms dir failed", "dir", dir, "err", err)
	}
	if aside != "" {
		if err := os.RemoveAll(aside); err != nil {
			s.im.log().Warn("old platform not fully removed; CleanLeftovers will finish", "dir", aside, "err", err)
		}
	}
	return nil
}

// entry reads build's catalog entry, nil when there is none.
func (s *Syncer) entry(ctx context.Context, build string) (*CatalogEntry, error) {
	var out *CatalogEntry
	err := s.im.Store.Txn(ctx, func(tx store.Tx) error {
		e, ok, err := txEntry(tx, build)
		if ok {
			out = &e
		}
		return err
	})
	return out, err
}

// remove deletes a build that left the catalog from the disk (renamed
// aside in one step, then deleted) and its status record.
func (s *Syncer) remove(ctx context.Context, build string) error {
	s.mu.Lock()
	_, busy := s.jobs[build]
	s.mu.Unlock()
	if busy {
		return nil
	}
	s.im.mu.Lock()
	defer s.im.mu.Unlock()
	e, err := s.entry(ctx, build)
	if err != nil || e != nil {
		return err // back in the catalog meanwhile
	}
	dir := s.im.platformsDir()
	final := filepath.Join(dir, build)
	aside := filepath.Join(dir, ".tmp-rm-"+build+"-"+randSuffix())
	if err := os.Rename(final, aside); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	durable.Sync(dir)
	if err := os.RemoveAll(aside); err != nil {
		s.im.log().Warn("platform not fully deleted; CleanLeftovers will finish", "dir", aside, "err", err)
	}
	s.im.log().Info("platform sync: removed a build that left the catalog", "build", build)
	return s.im.Store.Delete(ctx, statusKey(build, s.self))
}
