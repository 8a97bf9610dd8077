package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"rackboot/internal/smartos"
)

// Platform is a SmartOS platform as the API and the CLI show it: its catalog
// entry and what the rest of rackboot knows about it.
type Platform struct {
	smartos.CatalogEntry
	// Manifest summarises the catalog entry's manifest (which lists every
	// file), hiding it: its hash and how many files and bytes it names.
	Manifest *ManifestSummary `json:"manifest,omitempty"`
	Default  bool             `json:"default"`  // the catalog's default build: the menu boots it
	Boots    int              `json:"boots_7d"` // boots of this build in the last BootWindow
	// Servers is where the build is, per server, when several share the
	// store: present, fetching, failed or waiting (smartos.Syncer).
	Servers []smartos.PlatformStatus `json:"servers,omitempty"`
}

// ManifestSummary is what the API shows of a manifest.
type ManifestSummary struct {
	SHA256 string `json:"sha256"`
	Files  int    `json:"files"`
	Bytes  int64  `json:"bytes"`
}

// newPlatform is e as the API shows it.
func newPlatform(e smartos.CatalogEntry, def string, boots map[string]int, where map[string][]smartos.PlatformStatus) Platform {
	p := Platform{CatalogEntry: e, Default: e.Build == def, Boots: boots[e.Build], Servers: where[e.Build]}
	if m := e.Manifest; m != nil {
		p.Manifest = &ManifestSummary{SHA256: m.SHA256, Files: len(m.Files), Bytes: m.Bytes}
	}
	p.CatalogEntry.Manifest = nil
	for i := range p.Servers {
		p.Servers[i].Build = "" // said once, by the platform
	}
	return p
}

// BootWindow is the period Platform.Boots counts.
const BootWindow = 7 * 24 * time.Hour

// ImportRequest is the body of POST /platforms.
type ImportRequest struct {
	// Source is an http(s) URL of a platform-<build>.tgz or SmartOS ISO,
	// "latest", or an absolute path of either on the server's host.
	Source string `json:"source"`
	SHA256 string `json:"sha256,omitempty"`
	MD5    string `json:"md5,omitempty"`
	Force  bool   `json:"force,omitempty"`
}

// ImportMessage is one line of the answer to POST /platforms, a stream of
// JSON lines (application/x-ndjson): progress while the import runs, then
// one line with the imported platform or the error.
type ImportMessage struct {
	Progress *smartos.ProgressEvent `json:"progress,omitempty"`
	Platform *Platform              `json:"platform,omitempty"`
	Error    string                 `json:"error,omitempty"`
}

// PruneRequest is the body of POST /platforms/prune.
type PruneRequest struct {
	Keep int `json:"keep"`
}

// PruneResult is its answer.
type PruneResult struct {
	Removed []string `json:"removed"`
}

// NDJSON is the media type of the import stream.
const NDJSON = "application/x-ndjson"

// Platforms is the platform catalog as one set of operations, served under
// /platforms by Register and used directly by the CLI when no server runs.
// Errors a user can act on are *Error with an HTTP status.
type Platforms struct {
	Importer *smartos.Importer
	// Boots counts boots per build since a time (the machines registry);
	// nil counts none.
	Boots func(ctx context.Context, since time.Time) (map[string]int, error)
	Now   func() time.Time // nil: time.Now
}

// List returns every platform, newest first. Root passwords are left out:
// Get has them.
func (p *Platforms) List(ctx context.Context) ([]Platform, error) {
	entries, err := p.Importer.ListCatalog(ctx)
	if err != nil {
		return nil, err
	}
	def, err := smartos.DefaultBuild(ctx, p.Importer.Store)
	if err != nil {
		return nil, err
	}
	boots, where := p.boots(ctx), p.where(ctx)
	out := make([]Platform, 0, len(entries))
	for _, e := range entries {
		e.RootPassword = ""
		out = append(out, newPlatform(e, def, boots, where))
	}
	return out, nil
}

// Get returns one platform, with its rescue root password when known.
func (p *Platforms) Get(ctx context.Context, build string) (Platform, error) {
	entries, err := p.Importer.ListCatalog(ctx)
	if err != nil {
		return Platform{}, err
	}
	for _, e := range entries {
		if e.Build == build {
			def, err := smartos.DefaultBuild(ctx, p.Importer.Store)
			if err != nil {
				return Platform{}, err
			}
			return newPlatform(e, def, p.boots(ctx), p.where(ctx)), nil
		}
	}
	return Platform{}, notFound(build)
}

func notFound(build string) error {
	return Errorf(http.StatusNotFound, "platform %s is not in the catalog: 'rackboot platform list' shows the builds there are", build)
}

// boots asks the registry; a failure there costs the column, not the listing.
func (p *Platforms) boots(ctx context.Context) map[string]int {
	if p.Boots == nil {
		return nil
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	m, err := p.Boots(ctx, now().Add(-BootWindow))
	if err != nil {
		return nil
	}
	return m
}

// where reads the servers' status records; a failure costs the column.
func (p *Platforms) where(ctx context.Context) map[string][]smartos.PlatformStatus {
	m, err := smartos.ReadPlatformStatus(ctx, p.Importer.Store)
	if err != nil {
		return nil
	}
	return m
}

// Import brings one platform in. progress, when not nil, sees every step.
func (p *Platforms) Import(ctx context.Context, req ImportRequest, progress func(smartos.ProgressEvent)) (smartos.CatalogEntry, error) {
	if err := req.check(); err != nil {
		return smartos.CatalogEntry{}, err
	}
	if progress != nil {
		ctx = smartos.WithProgress(ctx, progress)
	}
	return p.Importer.Import(ctx, req.Source, smartos.ImportOptions{SHA256: req.SHA256, MD5: req.MD5, Force: req.Force})
}

// check refuses sources the server cannot resolve: a relative path means
// nothing to a server whose working directory is not the caller's.
func (req ImportRequest) check() error {
	s := req.Source
	switch {
	case s == "":
		return Errorf(http.StatusBadRequest, "source: give a URL, \"latest\" or the absolute path of a platform-<build>.tgz or SmartOS ISO")
	case s == "latest", strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		return nil
	case !filepath.IsAbs(s):
		return Errorf(http.StatusBadRequest, "source %q: a file must be given by its absolute path on the server's host", s)
	}
	return nil
}

// SetDefault makes build the default platform.
func (p *Platforms) SetDefault(ctx context.Context, build string) error {
	if err := p.exists(ctx, build); err != nil {
		return err
	}
	return refused(p.Importer.SetDefault(ctx, build))
}

// SetPinned pins or unpins build.
func (p *Platforms) SetPinned(ctx context.Context, build string, pinned bool) error {
	if err := p.exists(ctx, build); err != nil {
		return err
	}
	return refused(p.Importer.SetPinned(ctx, build, pinned))
}

// Remove deletes build; the default and pinned builds need force.
func (p *Platforms) Remove(ctx context.Context, build string, force bool) error {
	return refused(p.Importer.Remove(ctx, build, force))
}

// Prune removes all but the keep newest builds, sparing the default and
// pinned ones, and returns the builds removed.
func (p *Platforms) Prune(ctx context.Context, keep int) ([]string, error) {
	if keep < 0 {
		return nil, Errorf(http.StatusBadRequest, "keep must be 0 or more, not %d", keep)
	}
	removed, err := p.Importer.Prune(ctx, keep)
	return removed, refused(err)
}

func (p *Platforms) exists(ctx context.Context, build string) error {
	_, err := p.Get(ctx, build)
	return err
}

// refused turns the importer's refusals ("it is the default platform",
// "no such build") into 409s that keep their message.
func refused(err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	if strings.Contains(err.Error(), "no such build") {
		return Errorf(http.StatusNotFound, "%v", err)
	}
	return Errorf(http.StatusConflict, "%v", err)
}

// Register mounts the platform routes on s:
//
//	GET    /platforms                  the catalog, newest first
//	GET    /platforms/{build}          one platform, with its rescue root password
//	POST   /platforms                  import (ImportRequest); answers a stream of ImportMessage lines
//	POST   /platforms/{build}/default  make it the default
//	POST   /platforms/{build}/pin      keep it from prune and rm
//	POST   /platforms/{build}/unpin
//	DELETE /platforms/{build}[?force=true]
//	POST   /platforms/prune            PruneRequest; answers PruneResult
func (p *Platforms) Register(s *Server) {
	s.Handle("GET /platforms", func(w http.ResponseWriter, r *http.Request) error {
		list, err := p.List(r.Context())
		if err != nil {
			return err
		}
		return WriteJSON(w, http.StatusOK, list)
	})
	s.Handle("GET /platforms/{build}", func(w http.ResponseWriter, r *http.Request) error {
		pl, err := p.Get(r.Context(), r.PathValue("build"))
		if err != nil {
			return err
		}
		if !s.Authorized(r) {
			// Open reads show the boot network what is booted, not the
			// rescue root password.
			pl.RootPassword = ""
		}
		return WriteJSON(w, http.StatusOK, pl)
	})
	s.Handle("POST /platforms", p.serveImport)
	for action, f := range map[string]func(context.Context, string) error{
		"default": p.SetDefault,
		"pin":     func(ctx context.Context, b string) error { return p.SetPinned(ctx, b, true) },
		"unpin":   func(ctx context.Context, b string) error { return p.SetPinned(ctx, b, false) },
	} {
		s.Handle("POST /platforms/{build}/"+action, func(w http.ResponseWriter, r *http.Request) error {
			build := r.PathValue("build")
			if err := f(r.Context(), build); err != nil {
				return err
			}
			return p.writePlatform(w, r, build)
		})
	}
	s.Handle("DELETE /platforms/{build}", func(w http.ResponseWriter, r *http.Request) error {
		force := r.URL.Query().Get("force") == "true"
		if err := p.Remove(r.Context(), r.PathValue("build"), force); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	s.Handle("POST /platforms/prune", func(w http.ResponseWriter, r *http.Request) error {
		var req PruneRequest
		if err := DecodeJSON(r, &req); err != nil {
			return err
		}
		removed, err := p.Prune(r.Context(), req.Keep)
		if err != nil {
			return err
		}
		return WriteJSON(w, http.StatusOK, PruneResult{Removed: append([]string{}, removed...)})
	})
}

func (p *Platforms) writePlatform(w http.ResponseWriter, r *http.Request, build string) error {
	pl, err := p.Get(r.Context(), build)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, pl)
}

// progressEvery is the least time between two progress lines of one phase
// in the import stream.
const progressEvery = 100 * time.Millisecond

// serveImport runs one import for a client and streams its progress. The
// import runs in the request's context: a client that goes away (Ctrl-C)
// cancels it, and the partial download stays for the next try to resume.
func (p *Platforms) serveImport(w http.ResponseWriter, r *http.Request) error {
	var req ImportRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	w.Header().Set("Content-Type", NDJSON)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	send := func(m ImportMessage) {
		enc.Encode(m)
		rc.Flush()
	}
	var last smartos.ProgressEvent
	var sent time.Time
	progress := func(ev smartos.ProgressEvent) {
		now := time.Now()
		final := ev.Total > 0 && ev.Bytes >= ev.Total
		if ev.Phase == last.Phase && ev.File == last.File && !final && now.Sub(sent) < progressEvery {
			return
		}
		last, sent = ev, now
		send(ImportMessage{Progress: &ev})
	}
	e, err := p.Import(r.Context(), req, progress)
	if err != nil {
		send(ImportMessage{Error: err.Error()})
		return nil
	}
	pl := newPlatform(e, "", nil, nil)
	send(ImportMessage{Platform: &pl})
	return nil
}

// ErrStreamEnded is returned when an import stream ends without a result:
// the server stopped, or the connection broke.
var ErrStreamEnded = errors.New("the server ended the import stream without a result; " +
	"run the import again (a partial download is resumed)")
