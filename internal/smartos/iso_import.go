package smartos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	isoNameRE  = regexp.MustCompile(`^smartos-(.+)\.iso$`)
	isoStampRE = regexp.MustCompile(`[0-9]{8}T[0-9]{6}Z`)
)

// isISO reports whether f holds an ISO 9660 image: the first volume
// descriptor's "CD001" is at byte 32769 (ECMA-119 8.1). A gzip file (magic
// 1f 8b) is never one, whatever its compressed bytes happen to hold there.
func isISO(f io.ReaderAt) bool {
	head, magic := make([]byte, 2), make([]byte, 5)
	if _, err := f.ReadAt(head, 0); err != nil || head[0] == 0x1f && head[1] == 0x8b {
		return false
	}
	_, err := f.ReadAt(magic, 16*isoSector+1)
	return err == nil && string(magic) == "CD001"
}

// isISOFile is isISO for a path.
func isISOFile(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	return isISO(f)
}

// buildFromVolumeID finds a build stamp (20240101T000000Z) in a volume id.
func buildFromVolumeID(id string) string {
	if b := isoStampRE.FindString(id); validBuild(b) {
		return b
	}
	return ""
}

// isoFile is one entry of the platform/ tree to copy out of an ISO.
type isoFile struct {
	rel string // below platform/, slash-separated
	rec isoRecord
}

// unpackISO copies a SmartOS ISO's platform/ tree into a new
// <dataDir>/smartos/.tmp-<build>-* directory and checks it as unpack does
// a tarball's. The build is the platform's stamp, else hint (from the file
// name smartos-<build>.iso), else a stamp in the ISO's volume id.
func (im *Importer) unpackISO(ctx context.Context, isoPath, hint string) (dir, build string, err error) {
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	name := filepath.Base(isoPath)
	f, err := os.Open(isoPath)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", "", err
	}
	img, err := openISO(f, fi.Size())
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", name, err)
	}
	plat, names, err := img.lookup(img.root, "platform")
	if errors.Is(err, fs.ErrNotExist) || err == nil && !plat.dir {
		return "", "", fmt.Errorf("%s: no platform/ directory at the ISO's root (it holds %s): not a SmartOS ISO",
			name, strings.Join(names, ", "))
	}
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", name, err)
	}
	plat.name = "platform"
	files, total, err := im.isoTree(img, plat, "", 0)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", name, err)
	}
	if hint == "" {
		hint = buildFromVolumeID(img.volumeID)
	}
	return im.unpackWith(isoPath, hint, func(tmp string) error {
		return im.copyISO(ctx, img, files, total, tmp, name, hint)
	})
}

// isoTree lists the tree below d (parents before children) and its bytes,
// refusing names that could leave it. Symbolic links are skipped: a
// platform boots without them, and one never made cannot point out.
func (im *Importer) isoTree(img *isoImage, d isoRecord, rel string, depth int) ([]isoFile, int64, error) {
	if depth > isoMaxDepth {
		return nil, 0, isoCorrupt("directories nested deeper than %d", isoMaxDepth)
	}
	recs, err := img.readDir(d)
	if err != nil {
		return nil, 0, err
	}
	var out []isoFile
	var total int64
	for _, r := range recs {
		if r.name == "" || r.name == "." || r.name == ".." || strings.ContainsAny(r.name, "/\x00") {
			return nil, 0, fmt.Errorf("entry %q in platform/%s: name refused (empty, absolute or escaping)", r.name, rel)
		}
		p := path.Join(rel, r.name)
		switch {
		case r.symlink:
			im.log().Warn("symbolic link in the ISO's platform skipped", "file", "platform/"+p)
			continue
		case r.special:
			return nil, 0, fmt.Errorf("entry platform/%s is a device, FIFO or socket: refused", p)
		case r.moved:
			return nil, 0, fmt.Errorf("directory platform/%s was relocated by mkisofs (nested deeper than 8): not supported", p)
		}
		out = append(out, isoFile{rel: p, rec: r})
		if !r.dir {
			total += r.size
			continue
		}
		sub, n, err := im.isoTree(img, r, p, depth+1)
		if err != nil {
			return nil, 0, err
		}
		out, total = append(out, sub...), total+n
	}
	return out, total, nil
}

// copyISO writes files below tmp/platform, through an os.Root so that no
// name can leave it, each file fsynced.
func (im *Importer) copyISO(ctx context.Context, img *isoImage, files []isoFile, total int64, tmp, name, build string) error {
	dst := filepath.Join(tmp, "platform")
	if err := os.Mkdir(dst, 0o755); err != nil {
		return diskFull(err, tmp)
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	ev := ProgressEvent{Phase: "unpack", Build: build, File: name, Total: total}
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		rel := filepath.FromSlash(f.rel)
		if f.rec.dir {
			if err := root.Mkdir(rel, 0o755); err != nil {
				return fmt.Errorf("%s: platform/%s: %w", name, f.rel, diskFull(err, tmp))
			}
			continue
		}
		n, err := im.copyISOFile(ctx, img, root, rel, f.rec, ev)
		ev.Bytes += n
		if err != nil {
			return fmt.Errorf("%s: platform/%s: %w", name, f.rel, diskFull(err, tmp))
		}
	}
	im.report(ctx, ev)
	return nil
}

func (im *Importer) copyISOFile(ctx context.Context, img *isoImage, root *os.Root, rel string, rec isoRecord, ev ProgressEvent) (int64, error) {
	w, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, rec.perm&0o755|0o644)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	r := &phaseReader{ctx: ctx, r: io.NewSectionReader(img.r, rec.start, rec.size), im: im, ev: ev}
	n, err := io.Copy(w, r)
	if err != nil {
		return n, err
	}
	if n != rec.size {
		return n, fmt.Errorf("read %d of %d bytes: %w", n, rec.size, errISOTruncated)
	}
	if err := w.Sync(); err != nil {
		return n, err
	}
	return n, w.Close()
}
