// Package httpd is rackboot's HTTP side: the generated iPXE menu at
// /boot.ipxe and the files iPXE boots (platforms, memtest, iPXE itself for
// UEFI HTTP boot), served with Range, HEAD and sendfile.
package httpd

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"rackboot/internal/pxe"
)

// MenuRequest is what the menu handler knows about the asking client.
type MenuRequest struct {
	MAC  net.HardwareAddr
	Arch pxe.Arch
	// Features are the iPXE feature flags the URL's "features" names (the
	// DHCP answer put them there from option 175; see boot.MenuURL).
	Features pxe.Features
	BaseURL  string     // "http://10.0.0.1:8080": how this client reached us
	Client   netip.Addr // the client's address
}

// MenuFunc renders the iPXE script for one client.
type MenuFunc func(ctx context.Context, r MenuRequest) ([]byte, error)

// Server serves the menu and files. Files should come from os.Root.FS (or
// anything whose files are *os.File) so that bodies go out with sendfile.
type Server struct {
	Files  fs.FS
	Menu   MenuFunc
	Logger *slog.Logger
	// OnFile, when set, is told of every file served (for boot events).
	OnFile func(FileEvent)
	// OnProgress, when set, is told how far a download has got, at most
	// every ProgressEvery (default 500ms) while the body is being sent.
	OnProgress    func(FileProgress)
	ProgressEvery time.Duration

	// Optional handlers mounted beside the boot routes: the JSON API under
	// /api/, the dashboard at / and /ui/, Prometheus metrics at /metrics.
	API, Dashboard, Metrics http.Handler
}

// FileEvent is one file download, reported when it ends.
type FileEvent struct {
	Client   netip.Addr
	Path     string
	Status   int
	Bytes    int64
	Size     int64 // the whole file's length (a 200 that sent less was cut short)
	Duration time.Duration
	// UserAgent is the request's: iPXE says "iPXE/1.x", another rackboot
	// fetching a platform says smartos.SyncUserAgent.
	UserAgent string
}

// FileProgress is a download under way.
type FileProgress struct {
	Client  netip.Addr
	Path    string
	Bytes   int64 // sent so far
	Total   int64 // the body's length; 0 if unknown
	Elapsed time.Duration
	// UserAgent is the request's, as in FileEvent.
	UserAgent string
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /boot.ipxe", s.serveMenu)
	mux.HandleFunc("GET /", s.serveFile)
	if s.API != nil {
		// One pattern per method: a method-less "/api/" would conflict
		// with "GET /" (net/http refuses two patterns where neither is
		// more specific). The API answers other methods' 404/405 itself.
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			mux.Handle(m+" /api/", s.API)
		}
	}
	if s.Dashboard != nil {
		mux.Handle("GET /{$}", s.Dashboard)
		mux.Handle("GET /ui/", s.Dashboard)
	}
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	return mux
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// rechain is sent to a client that asked for /boot.ipxe without saying who
// it is (a hand-typed `chain http://server/boot.ipxe` at the iPXE prompt):
// iPXE fills in its own MAC and firmware and asks again.
const rechain = "#!ipxe\nchain %s/boot.ipxe?mac=${mac}&platform=${platform}&buildarch=${buildarch}\n"

func (s *Server) serveMenu(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	base := "http://" + r.Host
	if q.Get("mac") == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, strings.Replace(rechain, "%s", base, 1))
		return
	}
	req, err := parseMenuRequest(q.Get("mac"), q.Get("arch"), q.Get("platform"), q.Get("buildarch"), q.Get("features"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req.BaseURL = base
	req.Client = remoteAddr(r)
	script, err := s.Menu(r.Context(), req)
	if err != nil {
		s.log().Error("menu failed", "mac", req.MAC.String(), "arch", req.Arch.String(), "err", err)
		http.Error(w, "menu: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(script)
	s.log().Info("menu served", "mac", req.MAC.String(), "arch", req.Arch.String(), "features", req.Features.String(), "client", req.Client, "bytes", len(script))
}

func parseMenuRequest(mac, arch, platform, buildarch, features string) (MenuRequest, error) {
	var req MenuRequest
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return req, errors.New("mac: " + err.Error())
	}
	req.MAC = hw
	if req.Features, err = pxe.ParseFeatureList(features); err != nil {
		return req, errors.New("features: " + err.Error())
	}
	switch {
	case arch != "":
		req.Arch, err = pxe.ParseArch(arch)
	case platform != "":
		req.Arch, err = pxe.ArchFromIPXE(platform, buildarch)
	default:
		req.Arch = pxe.ArchBIOS // iPXE too old to say; BIOS is the safe guess
	}
	return req, err
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" || !fs.ValidPath(name) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	f, err := s.Files.Open(name)
	if err != nil {
		status := http.StatusNotFound
		if !errors.Is(err, fs.ErrNotExist) {
			status = http.StatusForbidden // e.g. a symlink out of the data directory
		}
		http.Error(w, http.StatusText(status), status)
		s.log().Info("file refused", "path", name, "client", remoteAddr(r), "status", status, "err", err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		http.Error(w, "file not seekable", http.StatusInternalServerError)
		return
	}
	cw := &countingWriter{ResponseWriter: w, status: http.StatusOK}
	if s.OnProgress != nil && r.Method != http.MethodHead {
		client, ua := remoteAddr(r), r.UserAgent()
		cw.every = s.ProgressEvery
		if cw.every <= 0 {
			cw.every = 500 * time.Millisecond
		}
		cw.last = start
		cw.progress = func(n, total int64) {
			s.OnProgress(FileProgress{Client: client, Path: name, Bytes: n, Total: total, Elapsed: time.Since(start), UserAgent: ua})
		}
	}
	http.ServeContent(cw, r, fi.Name(), fi.ModTime(), rs)
	ev := FileEvent{Client: remoteAddr(r), Path: name, Status: cw.status, Bytes: cw.n, Size: fi.Size(), Duration: time.Since(start), UserAgent: r.UserAgent()}
	s.log().Debug("file served", "path", name, "client", ev.Client, "status", ev.Status,
		"bytes", ev.Bytes, "range", r.Header.Get("Range"), "duration", ev.Duration.Round(time.Millisecond))
	if s.OnFile != nil {
		s.OnFile(ev)
	}
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// countingWriter counts body bytes. It keeps io.ReaderFrom so that net/http
// can still hand *os.File bodies to sendfile(2); to report progress it sends
// the body in chunks, each still one sendfile call.
type countingWriter struct {
	http.ResponseWriter
	n      int64
	status int

	progress func(n, total int64) // nil: no progress reports
	every    time.Duration
	last     time.Time
	total    int64
}

// progressChunk is how much of a file goes to one sendfile call between
// progress checks: small enough to report often on a slow link, large
// enough to cost nothing on a fast one.
const progressChunk = 1 << 20

func (c *countingWriter) WriteHeader(code int) {
	c.status = code
	if c.progress != nil {
		c.total, _ = strconv.ParseInt(c.Header().Get("Content-Length"), 10, 64)
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n += int64(n)
	c.report()
	return n, err
}

func (c *countingWriter) ReadFrom(r io.Reader) (int64, error) {
	rf := c.ResponseWriter.(io.ReaderFrom)
	if c.progress == nil {
		n, err := rf.ReadFrom(r)
		c.n += n
		return n, err
	}
	// net/http passes an *io.LimitedReader around the file; net's sendfile
	// looks through one LimitedReader, not two, so chunks are cut from the
	// file itself and the outer limit is kept by hand.
	src, remain := r, int64(-1)
	if lr, ok := r.(*io.LimitedReader); ok {
		src, remain = lr.R, lr.N
	}
	var total int64
	for remain != 0 {
		size := int64(progressChunk)
		if remain > 0 && remain < size {
			size = remain
		}
		n, err := rf.ReadFrom(&io.LimitedReader{R: src, N: size})
		total += n
		c.n += n
		if remain > 0 {
			remain -= n
		}
		if lr, ok := r.(*io.LimitedReader); ok {
			lr.N -= n
		}
		c.report()
		if err != nil || n < size {
			return total, err
		}
	}
	return total, nil
}

// report calls progress if it has not been called for a while.
func (c *countingWriter) report() {
	if c.progress == nil {
		return
	}
	if now := time.Now(); now.Sub(c.last) >= c.every {
		c.last = now
		c.progress(c.n, c.total)
	}
}
