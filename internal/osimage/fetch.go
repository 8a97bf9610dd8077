package osimage

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"rackboot/internal/smartos"
)

// fetch makes src a local file and hashes it: a URL is downloaded into
// os/.incoming/ (downloaded true: the caller removes it), a file is read
// where it is.
func (im *Importer) fetch(ctx context.Context, src string) (local, sum string, size int64, downloaded bool, err error) {
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		local, sum, size, err = im.download(ctx, src)
		return local, sum, size, err == nil, err
	}
	f, err := os.Open(src)
	if err != nil {
		return "", "", 0, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", "", 0, false, err
	}
	if !fi.Mode().IsRegular() {
		return "", "", 0, false, fmt.Errorf("%s: not a regular file", src)
	}
	h := sha256.New()
	if _, err := io.Copy(h, im.meter(ctx, f, "verify", filepath.Base(src), fi.Size())); err != nil {
		return "", "", 0, false, err
	}
	return src, hex.EncodeToString(h.Sum(nil)), fi.Size(), false, nil
}

// downloadAttempts bounds how often one import retries a cut connection.
const downloadAttempts = 4

// download fetches rawURL into os/.incoming/, resuming what an earlier
// attempt left there: a connection cut mid-body is resumed with an HTTP
// Range request (If-Range: the server's ETag or Last-Modified, so that a
// changed file is fetched anew), up to downloadAttempts times in one
// import, and a download that still fails or is stopped keeps its bytes
// for the next import of the same URL. A server that ignores Range sends
// the whole file again. The SHA-256 is of the complete file.
func (im *Importer) download(ctx context.Context, rawURL string) (string, string, int64, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", 0, err
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." || strings.HasPrefix(name, ".") || !nameRE.MatchString(name) {
		name = "download"
	}
	key := sha256.Sum256([]byte(rawURL))
	part := filepath.Join(im.osDir(), ".incoming", name+"."+hex.EncodeToString(key[:6])+".part")
	for attempt := 1; ; attempt++ {
		retry, err := im.downloadOnce(ctx, rawURL, part, name)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return "", "", 0, fmt.Errorf("download %s: %w (the partial file is kept; run the import again to resume)", rawURL, ctx.Err())
		}
		if !retry {
			removeDownload(part)
			return "", "", 0, fmt.Errorf("download %s: %w", rawURL, err)
		}
		if attempt == downloadAttempts {
			return "", "", 0, fmt.Errorf("download %s: %w (%d attempts; the partial file is kept: run the import again to resume)", rawURL, err, attempt)
		}
		im.log().Warn("download interrupted; resuming", "url", rawURL, "attempt", attempt, "err", err)
		delay := im.retryDelay
		if delay == 0 {
			delay = time.Duration(attempt) * time.Second
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
	}
	f, err := os.Open(part)
	if err != nil {
		return "", "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, im.meter(ctx, f, "verify", name, -1))
	if err != nil {
		return "", "", 0, err
	}
	return part, hex.EncodeToString(h.Sum(nil)), n, nil
}

// partMeta, beside a partial download (<part>.json), says where its bytes
// came from, so that a resume asks for the same file.
type partMeta struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	Size         int64  `json:"size"` // -1: the server did not say
}

// validator is the If-Range value: a strong ETag, else Last-Modified
// (RFC 9110, 13.1.5: If-Range takes no weak ETag).
func (m partMeta) validator() string {
	if m.ETag != "" && !strings.HasPrefix(m.ETag, "W/") {
		return m.ETag
	}
	return m.LastModified
}

// downloadOnce makes one request; retry says whether another may help.
func (im *Importer) downloadOnce(ctx context.Context, rawURL, part, name string) (retry bool, err error) {
	have, meta := resumePoint(part, rawURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return false, err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		req.Header.Set("If-Range", meta.validator())
	}
	client := im.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	var offset int64
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		start, size, err := contentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != have {
			return false, fmt.Errorf("server answered range %q to a request from byte %d", resp.Header.Get("Content-Range"), have)
		}
		offset, meta.Size = start, size
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && have > 0 && have == meta.Size:
		return false, nil // an earlier attempt got every byte
	case resp.StatusCode == http.StatusOK:
		meta = partMeta{URL: rawURL, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"), Size: resp.ContentLength}
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
			removeDownload(part) // what we have does not fit the server's file
		}
		return true, fmt.Errorf("server answered %s", resp.Status)
	default:
		return false, fmt.Errorf("server answered %s", resp.Status)
	}
	if err := writeMeta(part, meta); err != nil {
		return false, err
	}
	flags := os.O_WRONLY | os.O_CREATE
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return false, err
	}
	m := im.meter(ctx, resp.Body, "download", name, meta.Size).(*meter)
	m.ev.Bytes = offset
	n, err := io.Copy(f, m)
	if err != nil {
		return ctx.Err() == nil, err
	}
	if meta.Size >= 0 && offset+n != meta.Size {
		return true, fmt.Errorf("got %d of %d bytes", offset+n, meta.Size)
	}
	if err := f.Sync(); err != nil {
		return false, err
	}
	return false, f.Close()
}

// resumePoint is how many bytes of part can be kept for rawURL, and where
// they came from: none without a validator to ask If-Range with.
func resumePoint(part, rawURL string) (int64, partMeta) {
	fi, err := os.Stat(part)
	if err != nil || fi.Size() == 0 {
		return 0, partMeta{}
	}
	b, err := os.ReadFile(part + ".json")
	var m partMeta
	if err != nil || json.Unmarshal(b, &m) != nil || m.URL != rawURL || m.validator() == "" {
		return 0, partMeta{}
	}
	return fi.Size(), m
}

func writeMeta(part string, m partMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return writeSync(part+".json", b)
}

// removeDownload removes a download and what a resume would need of it.
func removeDownload(part string) {
	os.Remove(part)
	os.Remove(part + ".json")
}

// contentRange parses "bytes 100-199/200" into its first byte and the
// whole size (-1 for "*").
func contentRange(cr string) (start, size int64, err error) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	first, rest, ok2 := strings.Cut(rest, "-")
	_, total, ok3 := strings.Cut(rest, "/")
	if !ok || !ok2 || !ok3 {
		return 0, 0, fmt.Errorf("bad Content-Range %q", cr)
	}
	if start, err = strconv.ParseInt(first, 10, 64); err != nil {
		return 0, 0, err
	}
	if total == "*" {
		return start, -1, nil
	}
	size, err = strconv.ParseInt(total, 10, 64)
	return start, size, err
}

// meter reports reads of r as progress of phase, and stops at ctx's end.
func (im *Importer) meter(ctx context.Context, r io.Reader, phase, file string, total int64) io.Reader {
	return &meter{ctx: ctx, r: r, im: im, ev: Event{Phase: phase, File: file, Total: total}}
}

type meter struct {
	ctx  context.Context
	r    io.Reader
	im   *Importer
	ev   Event
	last time.Time
}

func (m *meter) Read(b []byte) (int, error) {
	if err := m.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := m.r.Read(b)
	m.ev.Bytes += int64(n)
	if now := time.Now(); err == io.EOF || now.Sub(m.last) >= 500*time.Millisecond {
		m.last = now
		m.im.report(m.ev)
	}
	return n, err
}

// untar unpacks a gzip tarball into dir: directories and regular files
// only (a symbolic link in a netboot tarball points at a file it also
// holds, and one never made cannot point out), no name that climbs out or
// is absolute.
func (im *Importer) untar(ctx context.Context, f *os.File, dir string) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	zr, err := gzip.NewReader(im.meter(ctx, f, "unpack", filepath.Base(f.Name()), fi.Size()))
	if err != nil {
		return err
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tarball: %w (truncated download?)", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		if name == "." {
			continue
		}
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("tarball: %q leads out of the directory", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := mkdirAll(root, name); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := mkdirAll(root, path.Dir(name)); err != nil {
				return err
			}
			out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return fmt.Errorf("tarball: %s: %w", name, err)
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("tarball: %s: %w", name, err)
			}
		}
	}
}

func mkdirAll(root *os.Root, name string) error {
	if name == "." || name == "" {
		return nil
	}
	cur := ""
	for _, e := range strings.Split(name, "/") {
		cur = path.Join(cur, e)
		if err := root.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return nil
}

func isISO(f *os.File) bool { return smartos.IsISO(f) }

// importISO keeps the image whole (os/<name>/<file>.iso) and, for a
// distribution that netboots its live kernel with the ISO fetched by the
// initrd (Ubuntu's casper: url=), takes the kernel and initrd out too.
func (im *Importer) importISO(ctx context.Context, f *os.File, local, tmp string, e *Entry) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	img, err := smartos.OpenISO(f, fi.Size())
	if err != nil {
		return err
	}
	name := strings.TrimSuffix(filepath.Base(local), filepath.Ext(local))
	if i := strings.Index(name, ".iso."); i >= 0 { // a download's temporary name
		name = name[:i]
	}
	name = strings.TrimSuffix(name, ".iso") + ".iso"
	if err := im.copyTo(ctx, io.NewSectionReader(f, 0, fi.Size()), filepath.Join(tmp, name), "copy", name, fi.Size()); err != nil {
		return err
	}
	e.Layout, e.ISO = LayoutISO, name
	for _, k := range []string{"casper/vmlinuz", "casper/vmlinuz.efi"} {
		kr, err := img.Open(k)
		if err != nil {
			continue
		}
		for _, i := range []string{"casper/initrd", "casper/initrd.gz", "casper/initrd.lz"} {
			ir, err := img.Open(i)
			if err != nil {
				continue
			}
			if err := os.MkdirAll(filepath.Join(tmp, "casper"), 0o755); err != nil {
				return err
			}
			if err := im.copyTo(ctx, kr, filepath.Join(tmp, "casper", "vmlinuz"), "unpack", k, kr.Size()); err != nil {
				return err
			}
			if err := im.copyTo(ctx, ir, filepath.Join(tmp, "casper", path.Base(i)), "unpack", i, ir.Size()); err != nil {
				return err
			}
			e.Layout, e.Arch = LayoutUbuntuLive, "amd64"
			e.Kernel, e.Initrds = "casper/vmlinuz", []string{"casper/" + path.Base(i)}
			return nil
		}
	}
	return nil
}

func (im *Importer) copyTo(ctx context.Context, r io.Reader, dst, phase, file string, total int64) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, im.meter(ctx, r, phase, file, total))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
