package smartos

import (
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// ISO is a read-only view of an ISO 9660 image with Rock Ridge names, the
// reader platform import uses (iso9660.go: every length checked against
// the image, fuzzed), for other importers: rackboot os import takes a
// distribution's kernel and initrd out of its ISO with it.
type ISO struct{ img *isoImage }

// IsISO reports whether r looks like an ISO 9660 image.
func IsISO(r io.ReaderAt) bool { return isISO(r) }

// OpenISO reads the image's volume descriptors.
func OpenISO(r io.ReaderAt, size int64) (*ISO, error) {
	img, err := openISO(r, size)
	if err != nil {
		return nil, err
	}
	return &ISO{img: img}, nil
}

// VolumeID is the primary volume descriptor's volume identifier.
func (i *ISO) VolumeID() string { return i.img.volumeID }

// Open returns the regular file at p ("casper/vmlinuz"), as a section of
// the image. Names are Rock Ridge's where the image has them.
func (i *ISO) Open(p string) (*io.SectionReader, error) {
	d := i.img.root
	elems := strings.Split(strings.Trim(p, "/"), "/")
	for n, e := range elems {
		// A walk down one path cannot loop (it ends after len(elems)
		// steps); the loop guard is for walks of a whole tree, and
		// would take a second Open's visit of a directory for one.
		i.img.seen = map[int64]bool{}
		rec, _, err := i.img.lookup(d, e)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: p, Err: err}
		}
		last := n == len(elems)-1
		if last && (rec.dir || rec.symlink || rec.special) || !last && !rec.dir {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("not a regular file: %w", fs.ErrNotExist)}
		}
		d = rec
	}
	if d.start+d.size > i.img.size {
		return nil, &fs.PathError{Op: "open", Path: p, Err: errISOTruncated}
	}
	return io.NewSectionReader(i.img.r, d.start, d.size), nil
}
