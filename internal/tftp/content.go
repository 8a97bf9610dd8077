package tftp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"path"
	"strings"
)

var (
	// ErrBadName is wrapped by the error of a request whose file name is
	// absolute, contains "..", or is not a valid fs.FS path.
	ErrBadName    = errors.New("file name refused")
	errNotRegular = errors.New("not a regular file")
)

// cleanName turns a requested file name into an fs.FS name. Backslashes are
// taken as separators (Windows-minded clients send them). An absolute name
// is taken from the TFTP root, as tftpd-hpa --secure and dnsmasq's TFTP
// take it: GRUB asks for every file with a leading "/" (its paths are
// absolute within the "(tftp,server)" device: "/debian-installer/amd64/
// grub/grub.cfg"). ".." elements are refused rather than quietly
// rewritten, so that a misconfigured client is told what is wrong.
func cleanName(raw string) (string, error) {
	name := strings.TrimLeft(strings.ReplaceAll(raw, `\`, "/"), "/")
	for _, elem := range strings.Split(name, "/") {
		if elem == ".." {
			return "", fmt.Errorf("%w: %q contains \"..\"", ErrBadName, raw)
		}
	}
	name = path.Clean(name)
	if name == "." || !fs.ValidPath(name) {
		return "", fmt.Errorf("%w: %q is not a valid file name", ErrBadName, raw)
	}
	return name, nil
}

// content is what one transfer sends.
type content struct {
	r          io.Reader
	at         io.ReaderAt // r as a ReaderAt, if it is one
	size       int64
	closer     io.Closer // nil for Override content
	overridden bool
}

func (c *content) Close() error {
	if c.closer == nil {
		return nil
	}
	return c.closer.Close()
}

// open finds name's content for client: the Override hook first, then Root.
func (s *Server) open(client netip.AddrPort, name string) (*content, error) {
	if s.Override != nil {
		if b, ok := s.Override(client, name); ok {
			r := bytes.NewReader(b)
			return &content{r: r, at: r, size: int64(len(b)), overridden: true}, nil
		}
	}
	if s.Root == nil {
		return nil, fmt.Errorf("open %s: no root: %w", name, fs.ErrNotExist)
	}
	// Stat before Open, so that a FIFO or device is refused rather than opened.
	fi, err := fs.Stat(s.Root, name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("open %s: %w (%s)", name, errNotRegular, fi.Mode().Type())
	}
	f, err := s.Root.Open(name)
	if err != nil {
		return nil, err
	}
	c := &content{r: f, size: fi.Size(), closer: f}
	c.at, _ = f.(io.ReaderAt)
	return c, nil
}

// errorReply is the ERROR packet that tells a client why its file can't be had.
func errorReply(name string, err error) (code uint16, msg string) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return codeNotFound, "file not found: " + name
	case errors.Is(err, fs.ErrPermission):
		return codeAccess, "permission denied: " + name
	case errors.Is(err, errNotRegular):
		return codeAccess, "not a regular file: " + name
	}
	// Symlinks out of an os.Root land here ("path escapes from parent"); the
	// details stay in the server's log.
	return codeAccess, "access violation: " + name
}

// blockSource reads block k (1-based) of a transfer into p, whose length is the
// block size. A short count marks the final block. The sender asks for blocks
// in order, except that it may go back to the first unacknowledged block, at
// most one window back.
type blockSource interface {
	readBlock(k int64, p []byte) (int, error)
}

// source picks how to read c: straight from the ReaderAt when there is one
// (octet mode), else through a buffer of one window for retransmits.
func (c *content) source(netascii bool, blockSize, windowSize int) blockSource {
	if c.at != nil && !netascii {
		return atSource{c.at}
	}
	r := c.r
	if netascii {
		r = newNetasciiReader(r)
	}
	return &windowBuffer{r: r, blocks: make([][]byte, windowSize), lens: make([]int, windowSize)}
}

type atSource struct{ r io.ReaderAt }

func (a atSource) readBlock(k int64, p []byte) (int, error) {
	n, err := a.r.ReadAt(p, (k-1)*int64(len(p)))
	if n == len(p) || errors.Is(err, io.EOF) {
		return n, nil
	}
	return n, err
}

// windowBuffer reads a stream and keeps its last len(blocks) blocks, which is
// all a sender retransmits.
type windowBuffer struct {
	r      io.Reader
	blocks [][]byte
	lens   []int
	hi     int64 // highest block read
	eof    bool
}

func (w *windowBuffer) readBlock(k int64, p []byte) (int, error) {
	n := int64(len(w.blocks))
	slot := int(k % n)
	switch {
	case k == w.hi+1:
		if w.blocks[slot] == nil {
			w.blocks[slot] = make([]byte, len(p))
		}
		read := 0
		if !w.eof {
			var err error
			read, err = io.ReadFull(w.r, w.blocks[slot])
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				w.eof = true
			} else if err != nil {
				return 0, err
			}
		}
		w.lens[slot], w.hi = read, k
	case k > w.hi || k <= w.hi-n || k < 1:
		return 0, fmt.Errorf("block %d is outside the buffered window (%d..%d)", k, w.hi-n+1, w.hi)
	}
	return copy(p, w.blocks[slot][:w.lens[slot]]), nil
}

// netasciiReader converts a file to netascii as RFC 1350 (via RFC 764) asks:
// LF becomes CR LF and a bare CR becomes CR NUL.
type netasciiReader struct {
	r       *bufio.Reader
	pending int // a byte to emit before reading more, or -1
}

func newNetasciiReader(r io.Reader) *netasciiReader {
	return &netasciiReader{r: bufio.NewReader(r), pending: -1}
}

func (n *netasciiReader) Read(p []byte) (int, error) {
	i := 0
	for i < len(p) {
		if n.pending >= 0 {
			p[i], n.pending = byte(n.pending), -1
			i++
			continue
		}
		c, err := n.r.ReadByte()
		if err != nil {
			return i, err
		}
		switch c {
		case '\n':
			p[i], n.pending = '\r', '\n'
		case '\r':
			p[i], n.pending = '\r', 0
		default:
			p[i] = c
		}
		i++
	}
	return i, nil
}
