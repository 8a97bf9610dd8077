package storm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// httpConn is one kept-alive HTTP/1.1 connection, as iPXE keeps one to the
// server it boots from. The simulator speaks HTTP itself (with net/http's
// response parser) rather than through http.Client for one reason: a storm
// moves tens of gigabytes that no one reads, and here they can be dropped in
// the kernel (discardBody) instead of being copied into the simulator. A
// real machine's NIC writes into its own memory, not the boot server's CPU;
// a simulator that copies every byte on the server's host makes itself the
// bottleneck and hides the server's own speed.
type httpConn struct {
	host string   // host:port it is connected to
	raw  net.Conn // the TCP connection
	br   *bufio.Reader
}

func (f *fetcher) dial(ctx context.Context, host string) (*httpConn, error) {
	d := &net.Dialer{Timeout: 15 * time.Second}
	if f.local.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: f.local.AsSlice()}
	}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	return &httpConn{host: host, raw: c, br: bufio.NewReaderSize(&idleConn{Conn: c, idle: f.timeout}, 64<<10)}, nil
}

func (f *fetcher) close() {
	if f.conn != nil {
		f.conn.raw.Close()
		f.conn = nil
	}
}

var errHTTPStatus = errors.New("HTTP status")

// httpGet downloads u into w (dropped when w is nil), following up to 5
// redirects, and returns the body bytes received.
func (f *fetcher) httpGet(ctx context.Context, u *url.URL, w io.Writer) (int64, error) {
	for range 6 {
		n, next, err := f.httpOnce(ctx, u, w)
		if next == nil {
			return n, err
		}
		u = next
	}
	return 0, fmt.Errorf("GET %s: more than 5 redirects", u)
}

// httpOnce makes one request on the kept-alive connection (a new one when
// there is none, or when the server closed the old one before answering).
// It returns the redirect's target when the answer is a redirect.
func (f *fetcher) httpOnce(ctx context.Context, u *url.URL, w io.Writer) (n int64, next *url.URL, err error) {
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("User-Agent", "iPXE/1.0.0+ (rackboot bench storm)")
	req.Header.Set("Connection", "keep-alive")
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		reused := f.conn != nil && f.conn.host == host
		if !reused {
			f.close()
			if f.conn, err = f.dial(ctx, host); err != nil {
				return 0, nil, fmt.Errorf("GET %s: %w", u, err)
			}
		}
		resp, err = f.conn.roundTrip(ctx, req)
		if err == nil {
			break
		}
		f.close()
		// A kept-alive connection the server has closed fails before the
		// first byte of an answer: try once more on a new one.
		if !reused || attempt > 0 || !errors.Is(err, io.EOF) || ctx.Err() != nil {
			return 0, nil, fmt.Errorf("GET %s: %w", u, err)
		}
	}
	stop := context.AfterFunc(ctx, f.close)
	defer func() {
		if !stop() || err != nil || resp.Close {
			f.close()
		}
	}()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != "":
		next, err = u.Parse(resp.Header.Get("Location"))
		if err != nil {
			return 0, nil, fmt.Errorf("GET %s: redirect to %q: %w", u, resp.Header.Get("Location"), err)
		}
		_, err = copyBody(io.Discard, resp.Body)
		return 0, next, err
	case resp.StatusCode != http.StatusOK:
		_, err = copyBody(io.Discard, resp.Body)
		return 0, nil, fmt.Errorf("GET %s: %w %s", u, errHTTPStatus, resp.Status)
	}
	if w == nil && resp.ContentLength > 0 && len(resp.TransferEncoding) == 0 {
		n, err = f.conn.discardBody(resp.ContentLength, f.timeout)
	} else {
		if w == nil {
			w = io.Discard
		}
		n, err = copyBody(w, resp.Body)
	}
	if err != nil {
		return n, nil, fmt.Errorf("GET %s: after %d bytes: %w", u, n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, nil, fmt.Errorf("GET %s: %d of %d bytes", u, n, resp.ContentLength)
	}
	return n, nil, nil
}

// roundTrip sends req and reads the answer's status line and headers.
func (c *httpConn) roundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { c.raw.Close() })
	defer stop()
	if err := c.raw.SetWriteDeadline(time.Now().Add(15 * time.Second)); err != nil {
		return nil, err
	}
	// Write, not req.Write: iPXE sends HTTP/1.1 with Host and no
	// Accept-Encoding, and so does this.
	if _, err := fmt.Fprintf(c.raw, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nConnection: keep-alive\r\n\r\n",
		req.URL.RequestURI(), req.URL.Host, req.Header.Get("User-Agent")); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, req)
	if errors.Is(err, io.ErrUnexpectedEOF) && c.br.Buffered() == 0 {
		err = io.EOF // nothing of an answer came: the server had closed it
	}
	return resp, err
}

// discardBody drops the next n body bytes: those already buffered, then
// the rest from the socket (in the kernel where the OS allows it).
func (c *httpConn) discardBody(n int64, idle time.Duration) (int64, error) {
	got := int64(0)
	if b := c.br.Buffered(); b > 0 {
		k, _ := c.br.Discard(int(min(int64(b), n)))
		got += int64(k)
	}
	for got < n {
		if idle > 0 {
			if err := c.raw.SetReadDeadline(time.Now().Add(idle)); err != nil {
				return got, err
			}
		}
		k, err := discardRead(c.raw, n-got)
		got += k
		if err != nil {
			return got, err
		}
	}
	return got, nil
}
