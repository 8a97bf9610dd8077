package httpd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// holdServer serves requests that wait for release, so that a test holds
// connections open for as long as it likes.
type holdServer struct {
	ln      *LimitedListener
	release chan struct{}
	once    sync.Once
	entered chan string // the client address of each request, as it starts
}

func startHoldServer(t *testing.T, total, perClient int) *holdServer {
	t.Helper()
	raw, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &holdServer{ln: LimitListener(raw, total, perClient, nil),
		release: make(chan struct{}), entered: make(chan string, 16)}
	srv := (&Server{}).HTTPServer()
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs.entered <- r.RemoteAddr
		select {
		case <-hs.release:
			io.WriteString(w, "ok")
		case <-r.Context().Done(): // the client went away
		}
	})
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(hs.ln) }()
	t.Cleanup(func() {
		hs.releaseAll()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return hs
}

func (hs *holdServer) releaseAll() { hs.once.Do(func() { close(hs.release) }) }

// dialFrom connects from ip (any of 127/8 on Linux) and sends a request.
func dialFrom(t *testing.T, ip string, to net.Addr) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)), Timeout: 10 * time.Second}
	c, err := d.Dial("tcp4", to.String())
	if err != nil {
		t.Skipf("cannot connect from %s (Linux routes all of 127/8 to lo): %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	return c
}

func (hs *holdServer) waitEntered(t *testing.T) string {
	t.Helper()
	select {
	case a := <-hs.entered:
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("request never reached the handler")
		return ""
	}
}

// TestConnectionLimits: the third connection from one address is closed at
// once and counted; another address gets in under the total cap; past the
// total cap a connection waits for one to close, then is served.
func TestConnectionLimits(t *testing.T) {
	hs := startHoldServer(t, 3, 2)
	addr := hs.ln.Addr()
	a1, a2 := dialFrom(t, "127.0.0.2", addr), dialFrom(t, "127.0.0.2", addr)
	hs.waitEntered(t)
	hs.waitEntered(t)
	a3 := dialFrom(t, "127.0.0.2", addr)
	_ = a3.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := a3.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third connection from one address: read %d bytes, err %v; want it closed", n, err)
	}
	if st := hs.ln.Stats(); st.Refused != 1 || st.Open != 2 {
		t.Fatalf("stats %+v, want 1 refused, 2 open", st)
	}
	b := dialFrom(t, "127.0.0.3", addr)
	hs.waitEntered(t)
	// The total cap (3) is reached: a fourth connection waits in the
	// backlog. Nothing may reach the handler until one closes.
	c := dialFrom(t, "127.0.0.4", addr)
	select {
	case a := <-hs.entered:
		t.Fatalf("request from %s served past the total cap", a)
	case <-time.After(200 * time.Millisecond):
	}
	a1.Close()
	if got := hs.waitEntered(t); got != c.LocalAddr().String() {
		t.Errorf("after a close, %s got in; want the waiting %s", got, c.LocalAddr())
	}
	hs.releaseAll()
	for _, conn := range []net.Conn{a2, b, c} {
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: response %v, %v", conn.LocalAddr(), resp, err)
		}
	}
	if st := hs.ln.Stats(); st.Refused != 1 {
		t.Errorf("stats %+v, want 1 refused", st)
	}
}

// TestLimitedConnKeepsSendfile: the wrapper passes ReadFrom and CloseWrite
// through, which net/http needs for sendfile and a graceful close.
func TestLimitedConnKeepsSendfile(t *testing.T) {
	var c net.Conn = &limitedConn{}
	if _, ok := c.(io.ReaderFrom); !ok {
		t.Error("limitedConn is not an io.ReaderFrom: file bodies would not go out with sendfile")
	}
	if _, ok := c.(interface{ CloseWrite() error }); !ok {
		t.Error("limitedConn has no CloseWrite")
	}
}

// TestLimitedListenerClose: Close wakes an Accept waiting for a slot.
func TestLimitedListenerClose(t *testing.T) {
	raw, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitListener(raw, 1, 1, nil)
	d, err := net.Dial("tcp4", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	first, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	var wg sync.WaitGroup
	var acceptErr error
	wg.Go(func() { _, acceptErr = ln.Accept() }) // waits: the one slot is taken
	ln.Close()
	wg.Wait()
	if !errors.Is(acceptErr, net.ErrClosed) {
		t.Errorf("Accept after Close: %v, want net.ErrClosed", acceptErr)
	}
}
