package osimage

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"rackboot/internal/download"
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
// attempt left there (internal/download): a connection cut mid-body is
// resumed with an HTTP Range request (If-Range: the server's ETag or
// Last-Modified, so that a changed file is fetched anew), up to
// downloadAttempts times in one import, and a download that still fails
// or is stopped keeps its bytes for the next import of the same URL. A
// server that ignores Range sends the whole file again. The SHA-256 is of the complete file.
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
	f := download.Fetcher{
		Client: im.HTTPClient, Attempts: downloadAttempts, RetryDelay: im.retryDelay, Logger: im.log(),
		DiscardOnFailure: true,
		Copy: func(ctx context.Context, dst io.Writer, body io.Reader, offset, total int64) (int64, error) {
			m := im.meter(ctx, body, "download", name, total).(*meter)
			m.ev.Bytes = offset
			return io.Copy(dst, m)
		},
	}
	if err := f.Fetch(ctx, rawURL, part); err != nil {
		return "", "", 0, err
	}
	in, err := os.Open(part)
	if err != nil {
		return "", "", 0, err
	}
	defer in.Close()
	h := sha256.New()
	n, err := io.Copy(h, im.meter(ctx, in, "verify", name, -1))
	if err != nil {
		return "", "", 0, err
	}
	return part, hex.EncodeToString(h.Sum(nil)), n, nil
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
