package httpd

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of the HTTP server under load; DESIGN.md, "What bounds each
// protocol under a flood".
const (
	// DefaultMaxConnections is sized for a storm of 1,000 machines: iPXE
	// fetches a boot over one kept-alive connection, so 2,048 leaves room
	// for all of them, dashboards and the API. A connection costs about
	// 20 KiB (goroutine, bufio buffers), so the cap bounds it at ~40 MiB.
	DefaultMaxConnections = 2048
	// DefaultMaxConnectionsPerClient: one iPXE needs one; a browser opens 6
	// per host plus an event stream. 32 leaves room for a NAT or a jump host
	// and stops one host from holding the others' room.
	DefaultMaxConnectionsPerClient = 32

	// readHeaderTimeout drops a client that connects and sends no request
	// (slowloris); idleTimeout closes a kept-alive connection left unused.
	// iPXE asks for its next file within a second or two; browsers reopen.
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 60 * time.Second
	// maxHeaderBytes: iPXE sends a few hundred bytes, the API a bearer
	// token; net/http's default (1 MiB) lets each connection hold 1 MiB.
	maxHeaderBytes = 64 << 10
)

// HTTPServer returns the http.Server for s's routes, with the timeouts and
// header cap above. It has no WriteTimeout and no ReadTimeout: a boot image
// of hundreds of megabytes over a slow link takes minutes, and a deadline on
// the whole response would cut it. Connections are bounded by the listener
// (LimitListener) instead.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// LimitedListener caps the connections open at once, in total and per client
// address. At the total cap Accept waits for a connection to close (as
// golang.org/x/net/netutil.LimitListener does), so that a storm queues in the
// kernel's listen backlog rather than failing; a connection beyond its
// client's cap is closed at once, so that one host cannot hold the room of
// the others while they wait.
type LimitedListener struct {
	net.Listener
	perClient int
	slots     chan struct{} // one token per open connection
	done      chan struct{} // closed by Close: wakes an Accept waiting for a slot
	closeOnce sync.Once
	log       *slog.Logger

	mu      sync.Mutex
	clients map[netip.Addr]int
	lastLog time.Time
	unlog   int64 // refusals since the last warning

	refused atomic.Int64
	open    atomic.Int64
}

// LimitListener wraps ln. Zero or negative caps take the defaults above.
// log (nil: discard) gets at most one warning every 10 s about refusals.
func LimitListener(ln net.Listener, total, perClient int, log *slog.Logger) *LimitedListener {
	if total <= 0 {
		total = DefaultMaxConnections
	}
	if perClient <= 0 {
		perClient = DefaultMaxConnectionsPerClient
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LimitedListener{Listener: ln, perClient: perClient, slots: make(chan struct{}, total),
		done: make(chan struct{}), log: log, clients: map[netip.Addr]int{}}
}

// ConnStats are the listener's counts.
type ConnStats struct {
	Open    int   // connections open now
	Refused int64 // connections closed at once: their client was at its cap
}

// Stats returns the listener's counts.
func (l *LimitedListener) Stats() ConnStats {
	return ConnStats{Open: int(l.open.Load()), Refused: l.refused.Load()}
}

// Accept waits for a slot under the total cap, then for a connection whose
// client is under its own cap.
func (l *LimitedListener) Accept() (net.Conn, error) {
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		ip := remoteIP(c)
		if !l.take(ip) {
			c.Close()
			<-l.slots
			continue
		}
		l.open.Add(1)
		return &limitedConn{Conn: c, release: func() { l.open.Add(-1); l.give(ip); <-l.slots }}, nil
	}
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *LimitedListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// take counts a connection from ip, or refuses it if ip is at its cap.
func (l *LimitedListener) take(ip netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients[ip] < l.perClient {
		l.clients[ip]++
		return true
	}
	l.refused.Add(1)
	l.unlog++
	if now := time.Now(); now.Sub(l.lastLog) >= 10*time.Second {
		l.log.Warn("http: connection limit per client reached: closing new connections from it",
			"client", ip, "max_connections_per_client", l.perClient, "refused", l.unlog, "next_report_in", "10s")
		l.lastLog, l.unlog = now, 0
	}
	return false
}

func (l *LimitedListener) give(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients[ip]--; l.clients[ip] <= 0 {
		delete(l.clients, ip)
	}
}

func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return ap.Addr().Unmap()
}

// limitedConn gives its slot back once, however often it is closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// ReadFrom keeps sendfile: net/http sends a file body through its
// connection's ReadFrom when it has one, and *net.TCPConn's uses sendfile(2).
// Without this method the wrapper would make every body a user-space copy.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite keeps net/http's graceful close (it half-closes a connection
// before closing it, so that the client reads the last response).
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
