package smartos

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"rackboot/internal/durable"
)

// The files a SmartOS platform cannot boot without, relative to the build's dir.
var (
	unixPath        = filepath.Join("platform", "i86pc", "kernel", "amd64", "unix")
	bootArchivePath = filepath.Join("platform", "i86pc", "amd64", "boot_archive")
)

// unpack extracts the tarball into a new <dataDir>/smartos/.tmp-<build>-*
// directory whose platform/ is the tarball's top directory, checks that it
// is a bootable platform, fsyncs it and returns it with the build. The
// caller removes the directory; on error unpack has removed it already.
func (im *Importer) unpack(ctx context.Context, tarball, hint string) (dir, build string, err error) {
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	top, err := tarTop(tarball)
	if err != nil {
		return "", "", err
	}
	if b, ok := strings.CutPrefix(top, "platform-"); ok && validBuild(b) && hint == "" {
		hint = b
	}
	return im.unpackWith(tarball, hint, func(tmp string) error {
		return im.extract(ctx, tarball, top, tmp, hint)
	})
}

// unpackWith makes a new <dataDir>/smartos/.tmp-<build>-* directory, lets
// fill write its platform/ from file (a tarball or an ISO), then identifies,
// checks and fsyncs it. On error it has removed the directory.
func (im *Importer) unpackWith(file, hint string, fill func(tmp string) error) (dir, build string, err error) {
	label := hint
	if label == "" {
		label = "import"
	}
	tmp, err := os.MkdirTemp(im.platformsDir(), ".tmp-"+label+"-")
	if err != nil {
		return "", "", fmt.Errorf("unpack: %w", diskFull(err, im.platformsDir()))
	}
	build, err = im.unpackInto(file, tmp, hint, fill)
	if err != nil {
		os.RemoveAll(tmp)
		return "", "", err
	}
	return tmp, build, nil
}

// unpackInto fills, identifies, checks and fsyncs the platform in tmp.
func (im *Importer) unpackInto(file, tmp, hint string, fill func(tmp string) error) (string, error) {
	// MkdirTemp made tmp private; the platform is served to everyone.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	if err := fill(tmp); err != nil {
		return "", err
	}
	build, err := readStamp(tmp, hint)
	if err != nil {
		return "", err
	}
	if err := checkPlatform(tmp); err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Base(file), err)
	}
	if err := durable.Tree(tmp, false); err != nil {
		return "", diskFull(err, im.platformsDir())
	}
	return build, nil
}

// openTar opens a gzip tarball.
func openTar(p string) (*tar.Reader, func(), error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not a gzip tarball: %w", filepath.Base(p), err)
	}
	return tar.NewReader(zr), func() { zr.Close(); f.Close() }, nil
}

// tarTop returns the tarball's top directory, e.g. platform-20240101T000000Z.
func tarTop(p string) (string, error) {
	tr, done, err := openTar(p)
	if err != nil {
		return "", err
	}
	defer done()
	for {
		hdr, err := tr.Next()
		if err != nil {
			return "", fmt.Errorf("%s: corrupt or empty tarball: %w", filepath.Base(p), err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		top, _, _ := strings.Cut(name, "/")
		if !strings.HasPrefix(top, "platform") || !buildRE.MatchString(top) {
			return "", fmt.Errorf("%s: top directory %q is not platform-<build>/: not a SmartOS platform tarball", filepath.Base(p), top)
		}
		return top, nil
	}
}

// entryPath maps a tar name to a path below the top directory ("" for the
// top itself), refusing names that are absolute or escape it.
func entryPath(name, top string) (string, error) {
	n := strings.TrimPrefix(name, "./")
	if strings.HasPrefix(n, "/") {
		return "", fmt.Errorf("entry %q has an absolute name", name)
	}
	n = path.Clean(n)
	if n == ".." || strings.HasPrefix(n, "../") {
		return "", fmt.Errorf("entry %q escapes the platform directory", name)
	}
	first, rest, _ := strings.Cut(n, "/")
	if first != top {
		return "", fmt.Errorf("entry %q is outside the top directory %s/", name, top)
	}
	return rest, nil
}

// extract writes the tarball's entries below dir/platform. Only regular
// files, directories, hard links and symbolic links that stay inside are
// accepted; devices, FIFOs and anything escaping the directory are refused.
func (im *Importer) extract(ctx context.Context, tarball, top, dir, build string) error {
	tr, done, err := openTar(tarball)
	if err != nil {
		return err
	}
	defer done()
	root := filepath.Join(dir, "platform")
	if err := os.Mkdir(root, 0o755); err != nil {
		return diskFull(err, dir)
	}
	ex := extractor{ctx: ctx, tr: tr, root: root, links: map[string]bool{}, im: im,
		ev: ProgressEvent{Phase: "unpack", Build: build, File: filepath.Base(tarball), Total: -1}}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return ex.checkLinks()
		}
		if err != nil {
			return fmt.Errorf("%s: corrupt tarball: %w", filepath.Base(tarball), err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := ex.entry(hdr, top); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(tarball), diskFull(err, dir))
		}
	}
}

type extractor struct {
	ctx   context.Context
	tr    *tar.Reader
	root  string
	links map[string]bool // symbolic links made so far, by relative name
	im    *Importer
	ev    ProgressEvent
}

func (ex *extractor) entry(hdr *tar.Header, top string) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	rel, err := entryPath(hdr.Name, top)
	if err != nil {
		return err
	}
	if rel == "" {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("entry %q: the top must be a directory", hdr.Name)
		}
		return nil
	}
	if ex.links[rel] {
		return fmt.Errorf("entry %q replaces a symbolic link", hdr.Name)
	}
	if ex.throughLink(rel, false) {
		return fmt.Errorf("entry %q goes through a symbolic link", hdr.Name)
	}
	dst := filepath.Join(ex.root, filepath.FromSlash(rel))
	switch hdr.Typeflag {
	case tar.TypeDir:
		return os.MkdirAll(dst, 0o755)
	case tar.TypeReg:
		return ex.file(dst, hdr)
	case tar.TypeSymlink:
		t := hdr.Linkname
		if path.IsAbs(t) {
			return fmt.Errorf("symbolic link %q points to the absolute path %q", hdr.Name, t)
		}
		if j := path.Clean(path.Join(path.Dir(rel), t)); j == ".." || strings.HasPrefix(j, "../") {
			return fmt.Errorf("symbolic link %q points out of the platform (%q)", hdr.Name, t)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		ex.links[rel] = true
		return os.Symlink(t, dst)
	case tar.TypeLink:
		target, err := entryPath(hdr.Linkname, top)
		if err != nil || target == "" || ex.throughLink(target, true) {
			return fmt.Errorf("hard link %q to %q: target outside the platform, or a symbolic link", hdr.Name, hdr.Linkname)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.Link(filepath.Join(ex.root, filepath.FromSlash(target)), dst)
	}
	return fmt.Errorf("entry %q is of type %q (device, FIFO or other special file): refused", hdr.Name, string(hdr.Typeflag))
}

// throughLink reports whether a parent of rel (or rel itself, with self) is
// a symbolic link made earlier.
func (ex *extractor) throughLink(rel string, self bool) bool {
	if self && ex.links[rel] {
		return true
	}
	for p := path.Dir(rel); p != "."; p = path.Dir(p) {
		if ex.links[p] {
			return true
		}
	}
	return false
}

// checkLinks resolves every symbolic link on disk: each was checked by name
// when made, but a chain of links with ".." can still lead outside. Those
// are refused; dangling links (useless for booting) are dropped.
func (ex *extractor) checkLinks() error {
	root, err := filepath.EvalSymlinks(ex.root)
	if err != nil {
		return err
	}
	for rel := range ex.links {
		p := filepath.Join(ex.root, filepath.FromSlash(rel))
		r, err := filepath.EvalSymlinks(p)
		if errors.Is(err, fs.ErrNotExist) {
			ex.im.log().Warn("dangling symbolic link in the platform dropped", "file", rel)
			if err := os.Remove(p); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("symbolic link %q: %w", rel, err)
		}
		if r != root && !strings.HasPrefix(r, root+string(filepath.Separator)) {
			return fmt.Errorf("symbolic link %q resolves outside the platform", rel)
		}
	}
	return nil
}

// file writes one regular file and fsyncs it.
func (ex *extractor) file(dst string, hdr *tar.Header) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	mode := fs.FileMode(hdr.Mode)&0o755 | 0o644
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	defer f.Close()
	r := &phaseReader{ctx: ex.ctx, r: ex.tr, im: ex.im, ev: ex.ev}
	n, err := io.Copy(f, r)
	ex.ev.Bytes += n
	switch {
	case err == nil:
	case r.err != nil && errors.Is(err, r.err) && ex.ctx.Err() == nil:
		return fmt.Errorf("corrupt tarball: entry %q: %w", hdr.Name, err)
	default:
		return fmt.Errorf("entry %q: %w", hdr.Name, err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// readStamp decides the build: the platform's own stamp
// (etc/version/platform, or buildstamp in older images) wins over the name.
func readStamp(dir, hint string) (string, error) {
	for _, p := range []string{filepath.Join("etc", "version", "platform"), "buildstamp"} {
		b, err := os.ReadFile(filepath.Join(dir, "platform", p))
		if err != nil {
			continue
		}
		stamp := strings.TrimSpace(string(b))
		if !validBuild(stamp) {
			return "", fmt.Errorf("platform/%s holds %q, which is not a build stamp", p, stamp)
		}
		return stamp, nil
	}
	if hint == "" {
		return "", errors.New("cannot tell the build: the platform has no etc/version/platform; " +
			"name the file platform-<build>.tgz (smartos-<build>.iso for an ISO) and import it again")
	}
	return hint, nil
}

// checkPlatform checks the kernel and boot archive, and the archive's SHA-1
// against boot_archive.hash when the platform ships one.
func checkPlatform(dir string) error {
	for _, p := range []string{unixPath, bootArchivePath} {
		fi, err := os.Lstat(filepath.Join(dir, p))
		if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
			return fmt.Errorf("not a SmartOS platform: %s is missing or empty", filepath.ToSlash(p))
		}
	}
	want, err := os.ReadFile(filepath.Join(dir, bootArchivePath+".hash"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(dir, bootArchivePath))
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha1.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	fields := strings.Fields(string(want))
	if got := hexSum(h); len(fields) == 0 || !strings.EqualFold(fields[0], got) {
		return fmt.Errorf("boot_archive is corrupt: boot_archive.hash says SHA-1 %s, the file has %s", strings.TrimSpace(string(want)), got)
	}
	return nil
}
