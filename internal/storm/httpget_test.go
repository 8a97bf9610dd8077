package storm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestHTTPGet runs the simulator's HTTP client against net/http's server on
// loopback: kept-alive reuse, bodies dropped in the kernel and counted
// exactly, redirects, chunked bodies, errors.
func TestHTTPGet(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16+7) // not a multiple of any buffer
	var conns atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "" {
			http.Error(w, "iPXE asks for no encoding", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		w.Write(big)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("#!ipxe\n"))
		w.(http.Flusher).Flush() // no Content-Length: chunked
		w.Write([]byte("echo hello\n"))
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/big", http.StatusFound)
	})
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write(big[:1000])
		panic(http.ErrAbortHandler) // the server dies mid-body
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.ErrorLog = nil
	srv.Start()
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	ctx := context.Background()
	f := &fetcher{timeout: 10 * time.Second}
	defer f.close()

	for i := range 3 {
		n, _, err := f.get(ctx, base.JoinPath("big"), nil)
		if err != nil || n != int64(len(big)) {
			t.Fatalf("download %d dropped in the kernel: %d bytes, %v; want %d", i, n, err, len(big))
		}
	}
	var got bytes.Buffer
	if n, _, err := f.get(ctx, base.JoinPath("big"), &got); err != nil || n != int64(len(big)) || !bytes.Equal(got.Bytes(), big) {
		t.Fatalf("download into a writer: %d bytes, %v, content equal %v", n, err, bytes.Equal(got.Bytes(), big))
	}
	if n, _, err := f.get(ctx, base.JoinPath("moved"), nil); err != nil || n != int64(len(big)) {
		t.Fatalf("redirect: %d bytes, %v", n, err)
	}
	got.Reset()
	if _, _, err := f.get(ctx, base.JoinPath("chunked"), &got); err != nil || got.String() != "#!ipxe\necho hello\n" {
		t.Fatalf("chunked: %q, %v", got.String(), err)
	}
	if c := conns.Load(); c != 1 {
		t.Errorf("%d connections for 6 downloads: iPXE keeps one alive", c)
	}
	if _, _, err := f.get(ctx, base.JoinPath("nothing"), nil); !errors.Is(err, errHTTPStatus) {
		t.Errorf("404: %v, want errHTTPStatus", err)
	}

	// The server drops every idle connection: the next download opens a
	// new one instead of failing.
	srv.CloseClientConnections()
	if n, _, err := f.get(ctx, base.JoinPath("big"), nil); err != nil || n != int64(len(big)) {
		t.Fatalf("after the server closed the kept-alive connection: %d bytes, %v", n, err)
	}
	if n, _, err := f.get(ctx, base.JoinPath("short"), nil); err == nil || n >= 1000000 {
		t.Errorf("body cut short: %d bytes, err %v; want an error", n, err)
	}

	// A cancelled download ends at once with the context's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := f.get(cctx, base.JoinPath("big"), nil); err == nil {
		t.Error("cancelled context: no error")
	}
}

// TestDiscardReadDropsExactly: the kernel drops at most what it is asked
// for, and the bytes after it are read intact.
func TestDiscardReadDropsExactly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	payload := append(bytes.Repeat([]byte{'x'}, 5<<20), []byte("TAIL")...)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(payload)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	want := int64(5 << 20)
	for got := int64(0); got < want; {
		k, err := discardRead(c, want-got)
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		got += k
	}
	tail, err := io.ReadAll(c)
	if err != nil || string(tail) != "TAIL" {
		t.Fatalf("after the dropped bytes: %q, %v; want TAIL", tail, err)
	}
}
