package smartos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"rackboot/internal/download"
	"rackboot/internal/store"
)

// DefaultMirror is where MNX (formerly Joyent) publishes SmartOS builds.
//
// What the mirror holds, as of the SmartOS docs ("Download SmartOS",
// smartos-live docs/download-smartos.md) and smartos-live's Makefile
// (targets common-platform-publish and smartos-publish):
//
//   - <mirror>/<build>/platform-<build>.tgz: the platform image, a gzip tar
//     whose top directory is platform-<build>/ (renamed to platform/ when
//     PXE booting); inside, i86pc/kernel/amd64/unix, i86pc/amd64/boot_archive
//     and its .hash (SHA-1), and etc/version/platform holding the build stamp.
//   - <mirror>/<build>/md5sums.txt: MD5 sums of every file of the build
//     ("sum -x md5 *", md5sum's "<hex>  <name>" lines). No SHA-256 file is
//     published, so pass ImportOptions.SHA256 for a stronger check.
//   - <mirror>/<build>/SINGLE_USER_ROOT_PASSWORD.txt: the build's generated
//     root password, needed to log in when booting without importing the
//     zpool (noimport=true logs in as root/root). The docs also name it
//     SINGLE_USER_ROOT_PASSWORD.<build>.txt; both names are tried.
//   - <mirror>/latest: a one-line object holding the latest build's path,
//     "/Joyent_Dev/public/SmartOS/<build>"; <mirror>/platform-latest.tgz is a
//     copy of the latest tarball with no checksum beside it.
const DefaultMirror = "https://us-central.manta.mnx.io/Joyent_Dev/public/SmartOS/"

// Importer downloads, verifies and unpacks SmartOS platform images into
// <DataDir>/smartos/<build>/platform/ and keeps their catalog in Store.
// Its methods are safe for concurrent use; an Importer must not be copied.
type Importer struct {
	DataDir    string
	Store      store.Store
	HTTPClient *http.Client        // nil: http.DefaultClient
	Mirror     string              // "": DefaultMirror
	Progress   func(ProgressEvent) // nil: no progress reports (see also WithProgress)
	Logger     *slog.Logger        // nil: discard

	now        func() time.Time // tests may fake time
	retryDelay time.Duration    // pause between download attempts
	mu         sync.Mutex       // serializes changes to the platforms dir

	dlMu        sync.Mutex
	downloading map[string]bool // partial files being written
}

// ImportOptions tune one Import.
type ImportOptions struct {
	// SHA256 and MD5, when set, are the expected hex digests of the tarball.
	// When both are empty and the source is a URL, the mirror's md5sums.txt
	// beside the tarball is used if it lists the file.
	SHA256 string
	MD5    string
	// Force replaces a build that is already present.
	Force bool
}

// ProgressEvent reports one step of a long import.
// Its JSON form is what the API streams to a client importing through it.
type ProgressEvent struct {
	Phase string        `json:"phase"`           // "download", "verify", "unpack", "install", "present", "done"
	Build string        `json:"build,omitempty"` // the build, once known
	File  string        `json:"file,omitempty"`  // the file being worked on
	Bytes int64         `json:"bytes"`           // bytes done in this phase
	Total int64         `json:"total"`           // bytes in all, -1 when unknown
	Rate  float64       `json:"rate,omitempty"`  // bytes per second (download)
	ETA   time.Duration `json:"eta,omitempty"`   // time left (download), 0 when unknown; JSON: nanoseconds
}

// source is a resolved import source.
type source struct {
	raw   string // what the user gave
	url   string // for downloads
	path  string // for local files
	name  string // file name, e.g. platform-20240101T000000Z.tgz
	build string // when known before unpacking
}

var (
	buildRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	tarballRE = regexp.MustCompile(`^platform-(.+)\.(tgz|tar\.gz)$`)
)

// validBuild reports whether b can name a directory under <dataDir>/smartos.
func validBuild(b string) bool { return buildRE.MatchString(b) && b != "latest" }

// buildFromName returns the build in a name like platform-<build>.tgz or
// smartos-<build>.iso.
func buildFromName(name string) string {
	m := tarballRE.FindStringSubmatch(name)
	if m == nil {
		m = isoNameRE.FindStringSubmatch(name)
	}
	if m == nil || !validBuild(m[1]) {
		return ""
	}
	return m[1]
}

func (im *Importer) log() *slog.Logger {
	if im.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return im.Logger
}

func (im *Importer) client() *http.Client {
	if im.HTTPClient == nil {
		return http.DefaultClient
	}
	return im.HTTPClient
}

func (im *Importer) mirror() string {
	m := im.Mirror
	if m == "" {
		m = DefaultMirror
	}
	if !strings.HasSuffix(m, "/") {
		m += "/"
	}
	return m
}

func (im *Importer) clock() time.Time {
	if im.now != nil {
		return im.now()
	}
	return time.Now()
}

// report tells Importer.Progress and the ctx's progress func (WithProgress)
// about ev.
func (im *Importer) report(ctx context.Context, ev ProgressEvent) {
	if im.Progress != nil {
		im.Progress(ev)
	}
	if f, ok := ctx.Value(progressKey{}).(func(ProgressEvent)); ok && f != nil {
		f(ev)
	}
}

type progressKey struct{}

// WithProgress returns a context that makes every Import run with it report
// its progress to f too (besides Importer.Progress), the way net/http/httptrace
// hooks one request: a server importing for several clients at once sends each
// its own progress. f is called on the importing goroutine.
func WithProgress(ctx context.Context, f func(ProgressEvent)) context.Context {
	return context.WithValue(ctx, progressKey{}, f)
}

func (im *Importer) platformsDir() string { return filepath.Join(im.DataDir, "smartos") }
func (im *Importer) incomingDir() string  { return filepath.Join(im.platformsDir(), ".incoming") }

// Import brings one SmartOS platform into the data dir and the catalog. src
// is an http(s) URL of a platform-<build>.tgz or a SmartOS ISO (whose
// platform/ is imported), a local path to one, or "latest" (the mirror's
// newest build). A build already present is left as it is (its catalog
// entry is returned) unless opt.Force is set, which replaces it atomically. On failure the data dir and the catalog are as
// they were, except a partial download kept in smartos/.incoming for resuming.
func (im *Importer) Import(ctx context.Context, src string, opt ImportOptions) (CatalogEntry, error) {
	if im.DataDir == "" || im.Store == nil {
		return CatalogEntry{}, errors.New("import: Importer needs a DataDir and a Store")
	}
	s, err := im.resolve(ctx, src)
	if err != nil {
		return CatalogEntry{}, fmt.Errorf("import %s: %w", src, err)
	}
	if s.build != "" && !opt.Force {
		if e, ok, err := im.present(ctx, s.build); err != nil || ok {
			return e, err
		}
	}
	e, err := im.importSource(ctx, s, opt)
	if err != nil {
		return CatalogEntry{}, fmt.Errorf("import %s: %w", src, err)
	}
	return e, nil
}

// resolve turns what the user typed into a source.
func (im *Importer) resolve(ctx context.Context, src string) (source, error) {
	switch {
	case src == "":
		return source{}, errors.New("no source given: pass a URL, a platform-<build>.tgz file, a SmartOS ISO or \"latest\"")
	case src == "latest":
		return im.resolveLatest(ctx)
	case strings.HasPrefix(src, "http://"), strings.HasPrefix(src, "https://"):
		u, err := url.Parse(src)
		if err != nil {
			return source{}, fmt.Errorf("bad URL: %w", err)
		}
		name := path.Base(u.Path)
		if name == "/" || name == "." {
			return source{}, errors.New("the URL names no file; give the URL of a platform-<build>.tgz or a SmartOS ISO")
		}
		return source{raw: src, url: src, name: name, build: buildFromName(name)}, nil
	}
	return resolveFile(src)
}

// resolveFile checks a local path: a gzip file or an ISO 9660 image.
func resolveFile(p string) (source, error) {
	f, err := os.Open(p)
	if err != nil {
		return source{}, fmt.Errorf("%w (give a URL, an existing platform-<build>.tgz or SmartOS ISO, or \"latest\")", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return source{}, err
	}
	if fi.IsDir() {
		return source{}, errors.New("is a directory; give the platform-<build>.tgz file")
	}
	head := make([]byte, 2)
	if _, err := io.ReadFull(f, head); err == nil && head[0] == 0x1f && head[1] == 0x8b || isISO(f) {
		name := filepath.Base(p)
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return source{raw: p, path: p, name: name, build: buildFromName(name)}, nil
	}
	return source{}, errors.New("not a gzip file nor an ISO 9660 image: give a SmartOS platform-<build>.tgz or ISO")
}

// present returns the catalog entry of a build already in the data dir,
// adding a "found on disk" entry when the catalog lacks one.
func (im *Importer) present(ctx context.Context, build string) (CatalogEntry, bool, error) {
	if _, err := os.Lstat(filepath.Join(im.platformsDir(), build)); err != nil {
		return CatalogEntry{}, false, nil
	}
	e, err := im.ensureEntry(ctx, build)
	if err != nil {
		return CatalogEntry{}, false, fmt.Errorf("import %s: %w", build, err)
	}
	im.log().Info("platform already present; nothing to do (use force to replace it)", "build", build)
	im.report(ctx, ProgressEvent{Phase: "present", Build: build})
	return e, true, nil
}

// importSource fetches, verifies, unpacks and installs one source.
func (im *Importer) importSource(ctx context.Context, s source, opt ImportOptions) (CatalogEntry, error) {
	if err := os.MkdirAll(im.incomingDir(), 0o755); err != nil {
		return CatalogEntry{}, fmt.Errorf("prepare %s: %w", im.platformsDir(), err)
	}
	local, downloaded, err := im.fetch(ctx, s)
	if err != nil {
		return CatalogEntry{}, err
	}
	sums, err := im.verify(ctx, s, local, opt)
	if err != nil {
		if downloaded && ctx.Err() == nil {
			removeDownload(local) // a corrupt download: start afresh next time
		}
		return CatalogEntry{}, err
	}
	unpack := im.unpack
	if isISOFile(local) {
		unpack = im.unpackISO
	}
	tmp, build, err := unpack(ctx, local, s.build)
	if err != nil {
		return CatalogEntry{}, err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed into place
	if !opt.Force {
		if e, ok, err := im.present(ctx, build); err != nil || ok {
			return e, err
		}
	}
	e := CatalogEntry{
		Build: build, Source: s.raw, SHA256: sums.sha256, MD5: sums.md5, Size: sums.size,
		ImportedAt:   im.clock().UTC(),
		RootPassword: im.rootPassword(ctx, s, build, tmp),
	}
	if e.Manifest, err = ComputeManifest(tmp); err != nil {
		return CatalogEntry{}, err
	}
	if err := writeLocalManifest(tmp, e.Manifest); err != nil {
		return CatalogEntry{}, fmt.Errorf("save the manifest of %s: %w", build, diskFull(err, im.platformsDir()))
	}
	im.report(ctx, ProgressEvent{Phase: "install", Build: build})
	if e, err = im.install(ctx, tmp, e, opt.Force); err != nil {
		return CatalogEntry{}, err
	}
	if downloaded {
		removeDownload(local)
	}
	im.log().Info("platform imported", "build", build, "source", s.raw, "bytes", sums.size, "sha256", sums.sha256)
	im.report(ctx, ProgressEvent{Phase: "done", Build: build, Bytes: sums.size, Total: sums.size})
	return e, nil
}

// fetch makes the source a local file: downloads land in smartos/.incoming.
func (im *Importer) fetch(ctx context.Context, s source) (local string, downloaded bool, err error) {
	if s.path != "" {
		return s.path, false, nil
	}
	name := s.name
	if !buildRE.MatchString(name) {
		name = "download.tgz"
	}
	part := filepath.Join(im.incomingDir(), name+".part")
	if err := im.download(ctx, s.url, part, s.build); err != nil {
		return "", false, err
	}
	return part, true, nil
}

// removeDownload deletes a finished or corrupt download and its resume data.
func removeDownload(part string) { download.Remove(part) }
