package tftp

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// hangGuard bounds every wait in these tests so that a bug fails a test
// instead of hanging it. No test asserts anything about elapsed time.
const hangGuard = 30 * time.Second

// testServer runs a Server on 127.0.0.1 and collects its Transfer reports.
type testServer struct {
	srv       *Server
	addr      netip.AddrPort
	transfers chan Transfer
	cancel    context.CancelFunc
	done      chan error
}

func startServer(t *testing.T, s *Server) *testServer {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: s, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		transfers: make(chan Transfer, 64), done: make(chan error, 1)}
	s.OnTransfer = func(tr Transfer) { ts.transfers <- tr }
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- s.Serve(ctx, conn) }()
	t.Cleanup(func() {
		ts.stop(t)
		conn.Close()
	})
	return ts
}

// stop cancels Serve and waits for it to return, which it does only after
// every transfer goroutine has ended.
func (ts *testServer) stop(t *testing.T) {
	t.Helper()
	ts.cancel()
	select {
	case err, ok := <-ts.done:
		if ok && err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
		if ok {
			close(ts.done)
		}
	case <-time.After(hangGuard):
		t.Fatal("Serve did not return after cancel")
	}
}

// transfer waits for the next Transfer report.
func (ts *testServer) transfer(t *testing.T) Transfer {
	t.Helper()
	select {
	case tr := <-ts.transfers:
		return tr
	case <-time.After(hangGuard):
		t.Fatal("no transfer reported")
		return Transfer{}
	}
}

// client speaks TFTP from a raw socket so that tests see the wire bytes.
type client struct {
	t      *testing.T
	conn   *net.UDPConn
	server netip.AddrPort // the server's request port
	tid    netip.AddrPort // the transfer's port, once a reply came
	buf    []byte
}

func newClient(t *testing.T, server netip.AddrPort) *client {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &client{t: t, conn: conn, server: server, buf: make([]byte, 70000)}
}

func (c *client) addr() netip.AddrPort { return c.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (c *client) sendTo(to netip.AddrPort, pkt []byte) {
	c.t.Helper()
	if _, err := c.conn.WriteToUDPAddrPort(pkt, to); err != nil {
		c.t.Fatal(err)
	}
}

// send sends to the transfer's TID.
func (c *client) send(pkt []byte) { c.t.Helper(); c.sendTo(c.tid, pkt) }

func (c *client) ack(block uint16) { c.t.Helper(); c.send(ackPacket(block)) }

// rrq sends a read request; opts are name, value pairs.
func (c *client) rrq(file, mode string, opts ...string) {
	c.t.Helper()
	c.sendTo(c.server, requestPacket(opRRQ, file, mode, opts...))
}

// read returns the next packet, valid until the next read, and sets the TID
// from the first one.
func (c *client) read() []byte {
	c.t.Helper()
	buf := c.buf
	if err := c.conn.SetReadDeadline(time.Now().Add(hangGuard)); err != nil {
		c.t.Fatal(err)
	}
	n, from, err := c.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if !c.tid.IsValid() {
		if from == c.server {
			c.t.Fatalf("reply came from the request port %v, want a new TID", from)
		}
		c.tid = from
	} else if from != c.tid {
		c.t.Fatalf("packet from %v, want the transfer's TID %v", from, c.tid)
	}
	return buf[:n]
}

// readData reads a packet that must be DATA and returns its block and payload.
func (c *client) readData() (uint16, []byte) {
	c.t.Helper()
	p := c.read()
	if op := binary.BigEndian.Uint16(p); op != opDATA || len(p) < 4 {
		c.t.Fatalf("got %s, want DATA", describe(p))
	}
	return binary.BigEndian.Uint16(p[2:]), p[4:]
}

// readError reads a packet that must be ERROR and returns its code and message.
func (c *client) readError() (uint16, string) {
	c.t.Helper()
	p := c.read()
	r, ok := parseReply(p)
	if !ok || r.err == nil || p[len(p)-1] != 0 {
		c.t.Fatalf("got %s, want a NUL-terminated ERROR", describe(p))
	}
	return r.err.Code, r.err.Message
}

// getOptions steer client.get.
type getOptions struct {
	mode     string                           // default octet
	opts     []string                         // name, value pairs
	dropData func(block int64, seen int) bool // pretend a DATA packet was lost
	dropAck  func(block int64, seen int) bool // send no ACK (pretend it was lost)
}

type getResult struct {
	data  []byte
	oack  map[string]string // nil if the server sent DATA 1 straight away
	wire  []uint16          // block numbers of every DATA received
	count map[int64]int     // how often each block arrived
}

// get downloads a file as a windowed receiver (RFC 7440 §4): it ACKs every
// window's last block and, on a block out of order, the last block it has.
func (c *client) get(file string, o getOptions) getResult {
	c.t.Helper()
	if o.mode == "" {
		o.mode = "octet"
	}
	c.rrq(file, o.mode, o.opts...)
	res := getResult{count: map[int64]int{}}
	blockSize, window := 512, 1
	var next int64 = 1 // the block expected next
	inWindow, acks := 0, map[int64]int{}
	sendAck := func(k int64) {
		acks[k]++
		if o.dropAck == nil || !o.dropAck(k, acks[k]) {
			c.ack(uint16(k))
		}
	}
	for {
		p := c.read()
		switch op := binary.BigEndian.Uint16(p); {
		case op == opOACK && next == 1:
			// count[0] counts OACKs: the OACK stands for block 0 (RFC 2347).
			res.count[0]++
			res.oack = parseOACK(c.t, p)
			if v, ok := res.oack["blksize"]; ok {
				blockSize, _ = strconv.Atoi(v)
			}
			if v, ok := res.oack["windowsize"]; ok {
				window, _ = strconv.Atoi(v)
			}
			sendAck(0)
			continue
		case op != opDATA:
			c.t.Fatalf("got %s during the transfer, want DATA", describe(p))
		}
		wire := binary.BigEndian.Uint16(p[2:])
		res.wire = append(res.wire, wire)
		k := next + int64(int16(wire-uint16(next))) // the absolute block nearest next
		res.count[k]++
		if o.dropData != nil && o.dropData(k, res.count[k]) {
			continue
		}
		if k != next {
			inWindow = 0
			sendAck(next - 1)
			continue
		}
		res.data = append(res.data, p[4:]...)
		next++
		if inWindow++; len(p)-4 < blockSize {
			sendAck(k)
			return res
		}
		if inWindow == window {
			inWindow = 0
			sendAck(k)
		}
	}
}

func requestPacket(op uint16, file, mode string, opts ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, op)
	for _, s := range append([]string{file, mode}, opts...) {
		b = append(append(b, s...), 0)
	}
	return b
}

func ackPacket(block uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, opACK), block)
}

func parseOACK(t *testing.T, p []byte) map[string]string {
	t.Helper()
	if len(p) < 2 || binary.BigEndian.Uint16(p) != opOACK || (len(p) > 2 && p[len(p)-1] != 0) {
		t.Fatalf("got %s, want OACK", describe(p))
	}
	f := bytes.Split(p[2:len(p)-1], []byte{0})
	if len(f)%2 != 0 {
		t.Fatalf("OACK with an odd number of strings: %q", p)
	}
	m := map[string]string{}
	for i := 0; i < len(f); i += 2 {
		m[string(f[i])] = string(f[i+1])
	}
	return m
}

func describe(p []byte) string {
	if len(p) < 2 {
		return "runt " + strconv.Quote(string(p))
	}
	names := map[uint16]string{opRRQ: "RRQ", opWRQ: "WRQ", opDATA: "DATA", opACK: "ACK", opERROR: "ERROR", opOACK: "OACK"}
	op := binary.BigEndian.Uint16(p)
	s := names[op]
	if s == "" {
		s = "opcode " + strconv.Itoa(int(op))
	}
	if len(p) >= 4 {
		s += " " + strconv.Itoa(int(binary.BigEndian.Uint16(p[2:])))
	}
	return s + " " + strconv.Quote(string(p[min(4, len(p)):min(len(p), 64)]))
}

// pattern returns n bytes that differ from block to block at any block size.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}
