package storm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// fetcher downloads what iPXE downloads: http:// URLs with one kept-alive
// connection (iPXE reuses it), tftp:// URLs and bare names from next-server.
type fetcher struct {
	local   netip.Addr // source address; invalid: the kernel picks
	next    netip.Addr // TFTP server for bare names
	tftp    TFTPOptions
	timeout time.Duration // a connection that receives nothing this long fails
	retries int
	conn    *httpConn // kept alive between downloads
}

// get downloads u into w (dropped when w is nil) and returns the bytes
// received and the number of further tries it took.
func (f *fetcher) get(ctx context.Context, u *url.URL, w io.Writer) (n int64, tries int, err error) {
	switch u.Scheme {
	case "http":
		for try := 0; ; try++ {
			var got int64
			got, err = f.httpGet(ctx, u, w)
			n += got
			if err == nil || try >= f.retries || ctx.Err() != nil || errors.Is(err, errHTTPStatus) {
				return n, try, err
			}
			if s, ok := w.(interface{ Reset() }); ok {
				s.Reset()
			}
		}
	case "tftp":
		server := netip.AddrPortFrom(f.next, 69)
		if u.Host != "" {
			ap, perr := netip.ParseAddrPort(u.Host)
			if perr != nil {
				a, aerr := netip.ParseAddr(u.Host)
				if aerr != nil {
					return 0, 0, fmt.Errorf("TFTP server %q: want an IPv4 address", u.Host)
				}
				ap = netip.AddrPortFrom(a, 69)
			}
			server = ap
		}
		if w != nil {
			return 0, 0, f.tftpScript(ctx, server, u, w)
		}
		r, err := tftpGet(ctx, f.local, server, strings.TrimPrefix(u.Path, "/"), f.tftp)
		return r.WireBytes, r.Retransmits, err
	}
	return 0, 0, fmt.Errorf("%s: scheme %q is not simulated (http and tftp are)", u, u.Scheme)
}

// copyBody copies with a large buffer: a storm moves gigabytes through the
// simulator, and io.Discard's 8 KiB reads would make it the bottleneck.
func copyBody(w io.Writer, r io.Reader) (int64, error) {
	buf := bufPool.get()
	defer bufPool.put(buf)
	return io.CopyBuffer(struct{ io.Writer }{w}, r, buf)
}

// tftpScript fetches a small file (a script) over TFTP into w.
func (f *fetcher) tftpScript(ctx context.Context, server netip.AddrPort, u *url.URL, w io.Writer) error {
	t, err := newTFTPSession(ctx, f.local, server, f.tftp)
	if err != nil {
		return err
	}
	defer t.close()
	var res TFTPResult
	t.sink = w
	return t.download(strings.TrimPrefix(u.Path, "/"), [][2]string{{"tsize", "0"}, {"blksize", "1432"}}, &res)
}

// readDiscard reads up to n bytes from r into a pooled buffer and drops them.
func readDiscard(r io.Reader, n int64) (int64, error) {
	buf := bufPool.get()
	defer bufPool.put(buf)
	k, err := r.Read(buf[:min(n, int64(len(buf)))])
	if k == 0 && err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return int64(k), err
}

// bufPool holds copy buffers, so that idle machines hold none.
var bufPool = pool{p: sync.Pool{New: func() any { b := make([]byte, 128<<10); return &b }}}

type pool struct{ p sync.Pool }

func (p *pool) get() []byte  { return *p.p.Get().(*[]byte) }
func (p *pool) put(b []byte) { p.p.Put(&b) }

// idleConn fails a read that waits longer than idle. iPXE has no limit on
// a whole download, only on a connection that stops moving; a 64 MiB
// boot_archive over a lossy link may rightly take many minutes.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	if c.idle > 0 {
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
			return 0, err
		}
	}
	return c.Conn.Read(p)
}
