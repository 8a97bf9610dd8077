package tftp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

var (
	// ErrReadOnly is the error of a write request (WRQ): this server only reads.
	ErrReadOnly = errors.New("write request refused: read-only server")
	// ErrTimeout is the error of a transfer whose client stopped answering.
	ErrTimeout = errors.New("client stopped acknowledging")
	// ErrOptionsDeclined is wrapped by the error of a transfer whose client
	// answered the OACK with an ERROR. PXE ROMs do this on purpose: they ask
	// for tsize, take the size from the OACK, and ask again.
	ErrOptionsDeclined = errors.New("client declined the negotiated options")
)

// transfer is one request being served on its own socket.
type transfer struct {
	srv     *Server
	slot    *slot // its place under the caps; nil in tests that build a transfer alone
	conn    *net.UDPConn
	peer    netip.AddrPort
	rec     Transfer
	timeout time.Duration
	retries int
	// fixedTimeout: the client asked for its timeout (RFC 2349), so every
	// retransmission waits exactly that long; otherwise waits back off.
	fixedTimeout bool
	answered     bool // the client has sent something on our TID
	rbuf         [2048]byte
}

// maxBackoff caps a retransmission wait that backs off.
const maxBackoff = 8 * time.Second

// wait is how long to wait for an answer after the try-th retransmission
// (0: the first send). Without the client's timeout option the wait doubles
// each time up to maxBackoff, as RFC 1123 §4.2.3.2 asks of TFTP: with the
// default 1 s and 5 retries the server keeps trying for 31 s rather than 6,
// longer than EDK2's 4 s × 6. A 500-machine storm over a lossy link lost
// 5 transfers to a fixed 1 s (rackboot bench storm); tftpd-hpa, which backs
// off, lost none.
func (t *transfer) wait(try int) time.Duration {
	if t.fixedTimeout || try <= 0 {
		return t.timeout
	}
	d := t.timeout << min(try, 16)
	if d > maxBackoff || d <= 0 {
		return max(t.timeout, maxBackoff)
	}
	return d
}

// run serves req on a new socket until it ends or ctx is done.
func (t *transfer) run(ctx context.Context, req request, local netip.Addr) error {
	if ctx.Err() != nil { // shed before it started
		return t.stopped(ctx)
	}
	conn, err := listenTransfer(local, t.peer)
	if err != nil {
		return fmt.Errorf("open transfer socket: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() }) // wakes a blocked read
	defer stop()
	t.conn = conn
	err = t.serve(req)
	if err != nil && ctx.Err() != nil {
		return t.stopped(ctx)
	}
	return err
}

// stopped is the error of a transfer whose context ended: shed, or the
// server stopping.
func (t *transfer) stopped(ctx context.Context) error {
	if cause := context.Cause(ctx); errors.Is(cause, errShed) {
		return cause
	}
	return fmt.Errorf("server stopping: %w", ctx.Err())
}

func (t *transfer) serve(req request) error {
	if req.op == opWRQ {
		return t.refuse(codeAccess, "read-only server: uploads are not accepted", ErrReadOnly)
	}
	name, err := cleanName(req.file)
	if err != nil {
		return t.refuse(codeAccess, err.Error(), err)
	}
	t.rec.File = name
	c, err := t.srv.open(t.peer, name)
	if err != nil {
		code, msg := errorReply(name, err)
		return t.refuse(code, msg, err)
	}
	defer c.Close()
	t.rec.Overridden = c.overridden
	netascii := req.mode == "netascii"
	size := c.size
	if netascii {
		size = -1 // the converted size is not known without reading the file
	}
	p, oack := t.srv.negotiate(req.opts, size)
	t.rec.BlockSize, t.rec.WindowSize, t.timeout = p.blockSize, p.windowSize, p.timeout
	t.fixedTimeout = p.timeoutAsked
	if len(oack) > 0 {
		if err := t.sendOACK(encodeOACK(oack)); err != nil {
			return err
		}
	}
	s := &sender{t: t, src: c.source(netascii, p.blockSize, p.windowSize),
		blockSize: p.blockSize, window: int64(p.windowSize), pkt: make([]byte, 4+p.blockSize)}
	err = s.run()
	t.rec.Size = s.ackedBytes()
	return err
}

// refuse tells the client why its request ends and returns err.
func (t *transfer) refuse(code uint16, msg string, err error) error {
	_ = t.send(encodeError(code, msg))
	return err
}

func (t *transfer) send(pkt []byte) error {
	_, err := t.conn.WriteToUDPAddrPort(pkt, t.peer)
	return err
}

// recv returns the next ACK or ERROR from the client, or an error wrapping
// os.ErrDeadlineExceeded once deadline passes. Packets from another address or
// port get ERROR 5 and are otherwise ignored (RFC 1350 §4); so are packets
// that are neither ACK nor ERROR.
func (t *transfer) recv(deadline time.Time) (reply, error) {
	if err := t.conn.SetReadDeadline(deadline); err != nil {
		return reply{}, err
	}
	for {
		n, from, err := t.conn.ReadFromUDPAddrPort(t.rbuf[:])
		if err != nil {
			return reply{}, err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if from != t.peer {
			_, _ = t.conn.WriteToUDPAddrPort(encodeError(codeUnknownTID, "unknown transfer ID"), from)
			continue
		}
		if r, ok := parseReply(t.rbuf[:n]); ok {
			t.markAnswered()
			return r, nil
		}
	}
}

// markAnswered takes the transfer off the list of those that may be shed:
// its client is real, it answers.
func (t *transfer) markAnswered() {
	if !t.answered {
		t.answered = true
		if t.slot != nil {
			t.srv.limiter().answered(t.slot)
		}
	}
}

// sendOACK sends the option acknowledgment until the client ACKs block 0
// (RFC 2347). An ERROR instead ends the transfer with ErrOptionsDeclined.
func (t *transfer) sendOACK(oack []byte) error {
	for try := 0; try <= t.retries; try++ {
		if err := t.send(oack); err != nil {
			return err
		}
		deadline := time.Now().Add(t.wait(try))
		for {
			r, err := t.recv(deadline)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				return err
			}
			if r.err != nil {
				return fmt.Errorf("%w: %w", ErrOptionsDeclined, r.err)
			}
			if r.block == 0 {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: no ACK for the OACK after %d tries", ErrTimeout, t.retries+1)
}

// sender sends a file's blocks, a window at a time (RFC 7440; a window of 1 is
// RFC 1350's lockstep).
type sender struct {
	t         *transfer
	src       blockSource
	blockSize int
	window    int64
	pkt       []byte
	acked     int64 // blocks 1..acked are acknowledged
	last      int64 // number of the final (short) block, 0 until it is read
	lastLen   int
}

func (s *sender) done() bool { return s.last != 0 && s.acked == s.last }

func (s *sender) ackedBytes() int64 {
	if s.done() {
		return (s.last-1)*int64(s.blockSize) + int64(s.lastLen)
	}
	return s.acked * int64(s.blockSize)
}

// run sends windows until the final block is acknowledged. A window starts
// after the last acknowledged block, so a timeout resends it whole and an ACK
// for a block inside the window starts the next window there (RFC 7440 §4).
func (s *sender) run() error {
	tries := 0
	for {
		hi, err := s.sendWindow()
		if err != nil {
			return err
		}
		got, err := s.awaitAck(hi, s.t.srv.clock(), s.t.wait(tries))
		switch {
		case err != nil:
			return err
		case s.done():
			return nil
		case got == ackProgress:
			tries = 0
			continue
		case got == ackLateDuplicate:
			// Not a try of ours: the client is alive and timing out
			// itself, and it counts its own tries.
			s.t.srv.logger().Debug("tftp: client repeated its ACK: resending at once", "client", s.t.peer,
				"file", s.t.rec.File, "block", s.acked+1)
			continue
		}
		if tries++; tries > s.t.retries {
			return fmt.Errorf("%w: block %d unacknowledged after %d tries", ErrTimeout, s.acked+1, tries)
		}
		s.t.srv.logger().Debug("tftp: retransmit", "client", s.t.peer, "file", s.t.rec.File,
			"block", s.acked+1, "try", tries)
	}
}

// sendWindow sends the blocks after the last acknowledged one, up to a window
// or the final block, and returns the number of the last block sent.
func (s *sender) sendWindow() (hi int64, err error) {
	for k := s.acked + 1; k <= s.acked+s.window; k++ {
		n, err := s.src.readBlock(k, s.pkt[4:])
		if err != nil {
			_ = s.t.send(encodeError(codeUndefined, "server read error"))
			return 0, fmt.Errorf("read block %d: %w", k, err)
		}
		if n < s.blockSize {
			s.last, s.lastLen = k, n
		}
		putDataHeader(s.pkt, k)
		if err := s.t.send(s.pkt[:4+n]); err != nil {
			return 0, err
		}
		if hi = k; k == s.last {
			break
		}
	}
	return hi, nil
}

// ackResult is what awaitAck saw.
type ackResult int

const (
	ackNone          ackResult = iota // nothing before the deadline: our timeout
	ackProgress                       // an ACK of a block of the window
	ackLateDuplicate                  // the last ACK again, a timeout or more after we sent the window
)

// awaitAck waits up to wait for an ACK of a block in (acked, hi], the window
// sent at sentAt.
//
// A duplicate of the last ACK is the client saying it timed out waiting for
// the window: its copy was lost. Answered every time, duplicates double the
// traffic with each round (the Sorcerer's Apprentice bug, RFC 1123 §4.2.3.1),
// so one that comes less than a timeout after our send is ignored: it is the
// client's answer to a packet we already resent, or a reordered copy. One that
// comes later is answered at once by resending the window (RFC 7440 §4 lets a
// sender resend its window on a timeout; the client's is the one that fired).
// Waiting for our own timer instead, which backs off to 8 s as RFC 1123
// §4.2.3.2 asks, let EDK2 (7 timeouts of 4 s) give up on a lossy link: it
// resent its ACK twice per retransmission of ours.
func (s *sender) awaitAck(hi int64, sentAt time.Time, wait time.Duration) (ackResult, error) {
	deadline := time.Now().Add(wait)
	for {
		r, err := s.t.recv(deadline)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return ackNone, nil
		}
		if err != nil {
			return ackNone, err
		}
		if r.err != nil {
			return ackNone, r.err
		}
		// 16-bit block numbers wrap; count forward from the last ACKed one.
		d := int64(r.block - uint16(s.acked))
		switch {
		case d >= 1 && d <= hi-s.acked:
			s.acked += d
			return ackProgress, nil
		case d == 0 && s.t.srv.clock().Sub(sentAt) > s.t.timeout:
			return ackLateDuplicate, nil
		}
	}
}
