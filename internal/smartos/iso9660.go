package smartos

// A small read-only ISO 9660 reader with Rock Ridge names, just enough to
// copy a SmartOS ISO's platform/ tree (see DESIGN.md for why it is ours).
// References: ECMA-119 (ISO 9660) 8.4 (primary volume descriptor) and 9.1
// (directory records); IEEE P1281 SUSP 1.12 sections 4 and 5 (SP, CE, ST);
// IEEE P1282 RRIP 1.12 section 4 (PX, SL, NM, CL, RE). The image is input we
// do not trust: every length and location is checked against the image
// before it is used, directories are read once each, and nothing panics.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

const (
	isoSector      = 2048     // logical block size; ECMA-119 allows others, mkisofs and xorriso use this
	isoMaxDirBytes = 16 << 20 // a directory larger than this is not a SmartOS ISO's
	isoMaxDepth    = 64
	isoMaxCE       = 32 // continuation areas per record, as Linux's isofs allows
)

// errISOTruncated marks structures that lie past the end of the image.
var errISOTruncated = errors.New("the image is truncated (an incomplete download or copy?)")

// isoImage is an opened ISO 9660 image with Rock Ridge.
type isoImage struct {
	r        io.ReaderAt
	size     int64
	volumeID string
	root     isoRecord
	suspSkip int            // SP's LEN_SKP: bytes to skip in every System Use area
	seen     map[int64]bool // directory extents read so far, against loops
}

// isoRecord is one directory record, with its Rock Ridge name and type.
type isoRecord struct {
	name    string
	dir     bool
	perm    fs.FileMode // permission bits from PX (0 without PX)
	symlink bool        // SL, or PX says S_IFLNK
	special bool        // PX says device, FIFO or socket
	moved   bool        // CL: a directory relocated by mkisofs (deeper than 8 levels)
	hidden  bool        // RE: the relocated directory itself, listed through its CL
	start   int64       // byte offset of the data in the image
	size    int64
}

func isoCorrupt(format string, a ...any) error {
	return fmt.Errorf("corrupt ISO 9660 image: "+format, a...)
}

// readAt reads len(b) bytes at off, which must lie inside the image.
func (img *isoImage) readAt(b []byte, off int64) error {
	if off < 0 || off+int64(len(b)) > img.size {
		return errISOTruncated
	}
	if _, err := img.r.ReadAt(b, off); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errISOTruncated
		}
		return err
	}
	return nil
}

// openISO reads the volume descriptors and the root directory's Rock Ridge
// marker (SUSP's SP entry in the root's "." record, SUSP 5.3).
func openISO(r io.ReaderAt, size int64) (*isoImage, error) {
	img := &isoImage{r: r, size: size, seen: map[int64]bool{}}
	buf := make([]byte, isoSector)
	found := false
	// Descriptors start at sector 16 and end with a terminator (type 255).
	for sector := int64(16); !found; sector++ {
		if sector > 16+64 {
			return nil, isoCorrupt("no primary volume descriptor in the first 64")
		}
		if err := img.readAt(buf, sector*isoSector); err != nil {
			return nil, err
		}
		if string(buf[1:6]) != "CD001" {
			return nil, isoCorrupt("volume descriptor %d has no CD001 signature", sector)
		}
		switch buf[0] {
		case 255:
			return nil, isoCorrupt("no primary volume descriptor")
		case 1: // ECMA-119 8.4
			if bs := binary.LittleEndian.Uint16(buf[128:]); bs != isoSector {
				return nil, fmt.Errorf("logical block size %d is not supported (only %d)", bs, isoSector)
			}
			img.volumeID = strings.TrimRight(string(buf[40:72]), " \x00")
			rec, err := img.parseRecord(buf[156:190], false)
			if err != nil {
				return nil, err
			}
			if !rec.dir {
				return nil, isoCorrupt("the root is not a directory")
			}
			img.root = rec
			found = true
		}
	}
	if err := img.findSUSP(); err != nil {
		return nil, err
	}
	return img, nil
}

// findSUSP looks for the SP entry at the start of the root's "." record.
func (img *isoImage) findSUSP() error {
	first := make([]byte, 255)
	n := min(int64(len(first)), img.root.size)
	if n < 34 {
		return isoCorrupt("the root directory is empty")
	}
	if err := img.readAt(first[:n], img.root.start); err != nil {
		return err
	}
	l := int(first[0])
	if l < 34 || int64(l) > n || first[32] != 1 || first[33] != 0 {
		return isoCorrupt("the root directory does not start with its \".\" record")
	}
	su := first[34:l] // a one-byte name: no padding byte
	if len(su) < 7 || string(su[:2]) != "SP" || su[2] < 7 || su[4] != 0xBE || su[5] != 0xEF {
		return errors.New("the ISO has no Rock Ridge names (it was made without -R): " +
			"SmartOS ISOs have them; make it with mkisofs -R, or import the platform-<build>.tgz")
	}
	img.suspSkip = int(su[6])
	return nil
}

// readDir returns the records of a directory, without "." and "..".
func (img *isoImage) readDir(d isoRecord) ([]isoRecord, error) {
	if img.seen[d.start] {
		return nil, isoCorrupt("directory %q is reached twice (a loop)", d.name)
	}
	img.seen[d.start] = true
	if d.size > isoMaxDirBytes {
		return nil, isoCorrupt("directory %q is %d bytes long", d.name, d.size)
	}
	buf := make([]byte, d.size)
	if err := img.readAt(buf, d.start); err != nil {
		return nil, err
	}
	var out []isoRecord
	for off := 0; off < len(buf); {
		l := int(buf[off])
		if l == 0 { // the rest of the sector is padding (ECMA-119 6.8.1.1)
			off = (off/isoSector + 1) * isoSector
			continue
		}
		if l < 34 || off+l > len(buf) || off%isoSector+l > isoSector {
			return nil, isoCorrupt("bad record of %d bytes at offset %d of directory %q", l, off, d.name)
		}
		b := buf[off : off+l]
		off += l
		if b[32] == 1 && (b[33] == 0 || b[33] == 1) {
			continue // "." and ".."
		}
		rec, err := img.parseRecord(b, true)
		if err != nil {
			return nil, fmt.Errorf("directory %q: %w", d.name, err)
		}
		if !rec.hidden {
			out = append(out, rec)
		}
	}
	return out, nil
}

// parseRecord decodes one directory record (ECMA-119 9.1) and, with susp,
// its Rock Ridge entries.
func (img *isoImage) parseRecord(b []byte, susp bool) (isoRecord, error) {
	if len(b) < 34 || int(b[0]) > len(b) || 33+int(b[32]) > int(b[0]) {
		return isoRecord{}, isoCorrupt("bad directory record")
	}
	b = b[:b[0]]
	flags := b[25]
	if flags&0x80 != 0 {
		return isoRecord{}, errors.New("a file spans several extents (over 4 GiB): not supported")
	}
	if b[26] != 0 || b[27] != 0 {
		return isoRecord{}, errors.New("interleaved files are not supported")
	}
	id := b[33 : 33+int(b[32])]
	rec := isoRecord{
		dir:   flags&0x02 != 0,
		start: (int64(binary.LittleEndian.Uint32(b[2:])) + int64(b[1])) * isoSector,
		size:  int64(binary.LittleEndian.Uint32(b[10:])),
	}
	if rec.start+rec.size > img.size && rec.size > 0 {
		return isoRecord{}, fmt.Errorf("%q: %w", isoName(id), errISOTruncated)
	}
	if susp {
		su := b[33+len(id)+(1-len(id)%2):] // a padding byte follows an even-length name
		if len(su) < img.suspSkip {
			su = nil
		} else {
			su = su[img.suspSkip:]
		}
		if err := img.rockRidge(su, &rec); err != nil {
			return isoRecord{}, fmt.Errorf("%q: %w", isoName(id), err)
		}
	}
	if rec.name == "" {
		rec.name = isoName(id)
	}
	return rec, nil
}

// isoName is a plain ISO 9660 file identifier without its ";1" version.
func isoName(id []byte) string {
	s, _, versioned := strings.Cut(string(id), ";")
	if versioned { // a file: "UNIX.;1" is "UNIX"
		s = strings.TrimSuffix(s, ".")
	}
	return s
}

// rockRidge reads a record's System Use entries (SUSP 4), following
// continuation areas (CE, SUSP 5.1), into rec: the name from NM entries,
// the type and permissions from PX, SL, CL and RE.
func (img *isoImage) rockRidge(area []byte, rec *isoRecord) error {
	var name []byte
	for ces := 0; ; ces++ {
		var ceLoc, ceOff, ceLen int64
		for len(area) >= 4 { // fewer than 4 bytes left are padding (SUSP 4)
			sig, l := string(area[:2]), int(area[2])
			if l < 4 || l > len(area) {
				return isoCorrupt("System Use entry %q has length %d", sig, l)
			}
			e := area[4:l]
			area = area[l:]
			switch sig {
			case "ST": // SUSP 5.4: no more entries
				area = nil
			case "CE":
				if len(e) < 24 {
					return isoCorrupt("short CE entry")
				}
				ceLoc = int64(binary.LittleEndian.Uint32(e[0:]))
				ceOff = int64(binary.LittleEndian.Uint32(e[8:]))
				ceLen = int64(binary.LittleEndian.Uint32(e[16:]))
			case "NM": // RRIP 4.1.4; CURRENT and PARENT (flags 2, 4) name "." and ".."
				if len(e) < 1 {
					return isoCorrupt("short NM entry")
				}
				if e[0]&0x06 != 0 {
					return errors.New("Rock Ridge name refers to \".\" or \"..\"")
				}
				name = append(name, e[1:]...)
			case "PX": // RRIP 4.1.1
				if len(e) < 8 {
					return isoCorrupt("short PX entry")
				}
				mode := binary.LittleEndian.Uint32(e)
				rec.perm = fs.FileMode(mode & 0o777)
				switch mode & 0o170000 {
				case 0o040000, 0o100000:
				case 0o120000:
					rec.symlink = true
				default:
					rec.special = true
				}
			case "SL":
				rec.symlink = true
			case "CL":
				rec.moved = true
			case "RE":
				rec.hidden = true
			}
		}
		if ceLen == 0 {
			break
		}
		if ces >= isoMaxCE {
			return isoCorrupt("more than %d continuation areas", isoMaxCE)
		}
		// Like Linux's isofs, a continuation area stays within one block.
		if ceOff+ceLen > isoSector {
			return isoCorrupt("continuation area of %d bytes at offset %d crosses its block", ceLen, ceOff)
		}
		area = make([]byte, ceLen)
		if err := img.readAt(area, ceLoc*isoSector+ceOff); err != nil {
			return err
		}
	}
	rec.name = string(name)
	return nil
}

// lookup returns the record named name in directory d.
func (img *isoImage) lookup(d isoRecord, name string) (isoRecord, []string, error) {
	recs, err := img.readDir(d)
	if err != nil {
		return isoRecord{}, nil, err
	}
	var names []string
	for _, r := range recs {
		if r.name == name {
			return r, nil, nil
		}
		names = append(names, r.name)
	}
	return isoRecord{}, names, fs.ErrNotExist
}
