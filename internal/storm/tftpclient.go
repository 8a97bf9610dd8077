package storm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// TFTP opcodes (RFC 1350, RFC 2347).
const (
	tftpRRQ   = 1
	tftpDATA  = 3
	tftpACK   = 4
	tftpERROR = 5
	tftpOACK  = 6
)

// TFTPOptions is how a simulated ROM fetches its boot program.
type TFTPOptions struct {
	// BlockSize asked for (RFC 2348); 0 asks for none (512-byte blocks).
	// PXE ROMs ask for 1468 (EDK2) or 1432/1456 (Intel).
	BlockSize int
	// WindowSize asked for (RFC 7440); 0 or 1 is RFC 1350 lockstep, which
	// is what PXE ROMs do.
	WindowSize int
	// SizeProbe first asks for tsize alone and aborts after the OACK, as
	// EDK2 (PxeBcTftpGetFileSize) and Intel ROMs do to learn the size
	// before the real download.
	SizeProbe bool
	// Timeout before the client retransmits its last packet, and how many
	// times it does so without progress before giving up. EDK2's PXE
	// driver: 4 s and 6 (PXEBC_MTFTP_TIMEOUT, PXEBC_MTFTP_RETRIES).
	Timeout time.Duration
	Retries int
}

// TFTPResult is one download.
type TFTPResult struct {
	Size        int64 // file bytes received
	WireBytes   int64 // DATA payload bytes received, duplicates included
	Retransmits int   // packets the client sent again after a timeout
	BlockSize   int   // as negotiated
	WindowSize  int
}

var errTFTPTimeout = errors.New("TFTP server stopped answering")

// tftpGet downloads file from server, from a new port on local (the
// unspecified address lets the kernel pick). The content is counted and
// dropped.
func tftpGet(ctx context.Context, local netip.Addr, server netip.AddrPort, file string, o TFTPOptions) (TFTPResult, error) {
	var res TFTPResult
	if o.SizeProbe {
		if err := tftpProbe(ctx, local, server, file, o, &res); err != nil {
			return res, fmt.Errorf("tsize probe: %w", err)
		}
	}
	opts := [][2]string{{"tsize", "0"}}
	if o.BlockSize > 0 {
		opts = append(opts, [2]string{"blksize", strconv.Itoa(o.BlockSize)})
	}
	if o.WindowSize > 1 {
		opts = append(opts, [2]string{"windowsize", strconv.Itoa(o.WindowSize)})
	}
	t, err := newTFTPSession(ctx, local, server, o)
	if err != nil {
		return res, err
	}
	defer t.close()
	err = t.download(file, opts, &res)
	return res, err
}

// tftpProbe asks for file with tsize only and aborts once the server says
// the size (RFC 2347: ERROR 8 declines the options).
func tftpProbe(ctx context.Context, local netip.Addr, server netip.AddrPort, file string, o TFTPOptions, res *TFTPResult) error {
	t, err := newTFTPSession(ctx, local, server, o)
	if err != nil {
		return err
	}
	defer t.close()
	first, err := t.open(file, [][2]string{{"tsize", "0"}}, res)
	if err != nil {
		return err
	}
	if first[1] == tftpOACK {
		return t.sendTo(tftpError(8, "size probe only"))
	}
	// A server that ignores options starts sending DATA 1: stop it.
	return t.sendTo(tftpError(0, "size probe only"))
}

// tftpSession is one transfer: our socket and the server's transfer ID.
type tftpSession struct {
	ctx    context.Context
	conn   *net.UDPConn
	server netip.AddrPort // the request goes here
	peer   netip.AddrPort // the transfer's TID, once known
	o      TFTPOptions
	buf    []byte
	stop   func() bool
	sink   io.Writer // receives the file when set
}

func newTFTPSession(ctx context.Context, local netip.Addr, server netip.AddrPort, o TFTPOptions) (*tftpSession, error) {
	la := &net.UDPAddr{}
	if local.IsValid() {
		la = net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0))
	}
	conn, err := net.ListenUDP("udp4", la)
	if err != nil {
		return nil, fmt.Errorf("TFTP socket on %v: %w", local, err)
	}
	t := &tftpSession{ctx: ctx, conn: conn, server: server, o: o, buf: make([]byte, 65536+4)}
	t.stop = context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	return t, nil
}

func (t *tftpSession) close() {
	t.stop()
	t.conn.Close()
}

func (t *tftpSession) sendTo(pkt []byte) error {
	dst := t.peer
	if !dst.IsValid() {
		dst = t.server
	}
	_, err := t.conn.WriteToUDPAddrPort(pkt, dst)
	return err
}

// recv returns the next packet from the transfer's peer, or a timeout error.
// Before the peer is known, the first packet from the server's address fixes
// it (RFC 1350 §4: the server answers from a new port).
func (t *tftpSession) recv(deadline time.Time) ([]byte, error) {
	if err := t.conn.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	for {
		n, from, err := t.conn.ReadFromUDPAddrPort(t.buf)
		if err != nil {
			if t.ctx.Err() != nil {
				return nil, t.ctx.Err()
			}
			return nil, err
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if !t.peer.IsValid() && from.Addr() == t.server.Addr() {
			t.peer = from
		}
		if from != t.peer {
			_, _ = t.conn.WriteToUDPAddrPort(tftpError(5, "unknown transfer ID"), from)
			continue
		}
		if n < 4 {
			continue
		}
		return t.buf[:n], nil
	}
}

// open sends the RRQ until the first answer (OACK, DATA or ERROR) and
// returns it; an ERROR becomes the error.
func (t *tftpSession) open(file string, opts [][2]string, res *TFTPResult) ([]byte, error) {
	rrq := tftpRequest(file, opts)
	for try := 0; try <= t.o.Retries; try++ {
		if try > 0 {
			res.Retransmits++
		}
		if err := t.sendTo(rrq); err != nil {
			return nil, fmt.Errorf("send RRQ: %w", err)
		}
		pkt, err := t.recv(time.Now().Add(t.o.Timeout))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			return nil, err
		}
		switch binary.BigEndian.Uint16(pkt) {
		case tftpERROR:
			return nil, tftpErr(pkt)
		case tftpOACK, tftpDATA:
			return pkt, nil
		}
	}
	return nil, fmt.Errorf("%w: no answer to RRQ %q after %d tries", errTFTPTimeout, file, t.o.Retries+1)
}

// download runs the whole transfer: RRQ, OACK/ACK 0, then DATA blocks
// acknowledged one by one or a window at a time.
func (t *tftpSession) download(file string, opts [][2]string, res *TFTPResult) error {
	first, err := t.open(file, opts, res)
	if err != nil {
		return err
	}
	blk, win, tsize := 512, 1, int64(-1)
	if binary.BigEndian.Uint16(first) == tftpOACK {
		for k, v := range parseOACK(first[2:]) {
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "blksize":
				blk = int(n)
			case "windowsize":
				win = max(int(n), 1)
			case "tsize":
				tsize = n
			}
		}
		first = nil
		if err := t.sendTo(tftpAck(0)); err != nil {
			return err
		}
	}
	res.BlockSize, res.WindowSize = blk, win
	r := &receiver{t: t, res: res, blk: blk, win: win, expect: 1}
	if err := r.run(first); err != nil {
		return err
	}
	if tsize >= 0 && tsize != res.Size {
		return fmt.Errorf("got %d bytes, the server announced %d", res.Size, tsize)
	}
	return nil
}

// receiver takes DATA blocks in order.
type receiver struct {
	t         *tftpSession
	res       *TFTPResult
	blk, win  int
	expect    uint64    // next block number (not wrapped)
	inWin     int       // in-order blocks since the last ACK
	reacked   uint64    // the block last re-acknowledged for a gap or duplicate
	reackedAt time.Time // and when
}

func (r *receiver) ack(block uint64) error {
	r.inWin = 0
	return r.t.sendTo(tftpAck(uint16(block)))
}

// run receives until the final (short) block; first, when not nil, is the
// DATA packet that answered the RRQ (no options).
func (r *receiver) run(first []byte) error {
	tries := 0
	for {
		pkt := first
		first = nil
		if pkt == nil {
			var err error
			pkt, err = r.t.recv(time.Now().Add(r.t.o.Timeout))
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if tries++; tries > r.t.o.Retries {
					return fmt.Errorf("%w: block %d never came (%d timeouts)", errTFTPTimeout, r.expect, tries)
				}
				// RFC 1350: the receiver retransmits its last ACK too.
				r.res.Retransmits++
				if err := r.ack(r.expect - 1); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
		}
		switch binary.BigEndian.Uint16(pkt) {
		case tftpERROR:
			return tftpErr(pkt)
		case tftpDATA:
		case tftpOACK:
			// The server resends its OACK: our ACK 0 was lost (RFC 2347).
			if r.expect == 1 {
				if err := r.ack(0); err != nil {
					return err
				}
			}
			continue
		default:
			continue
		}
		done, progressed, err := r.data(pkt)
		if err != nil || done {
			return err
		}
		if progressed {
			tries = 0
		}
	}
}

// data handles one DATA packet and reports whether it was the last block
// and whether it was the next one expected.
func (r *receiver) data(pkt []byte) (done, progressed bool, err error) {
	n := len(pkt) - 4
	r.res.WireBytes += int64(n)
	// Block numbers wrap at 65535 (RFC 7440 §4 leaves rollover to the
	// implementation; iPXE and EDK2 go on from 0): count from the expected one.
	k := r.expect + uint64(int64(int16(binary.BigEndian.Uint16(pkt[2:])-uint16(r.expect))))
	switch {
	case k == r.expect:
		if r.t.sink != nil {
			if _, err := r.t.sink.Write(pkt[4:]); err != nil {
				return false, false, err
			}
		}
		r.expect++
		r.res.Size += int64(n)
		r.inWin++
		if n < r.blk {
			return true, true, r.ack(k)
		}
		if r.inWin >= r.win {
			return false, true, r.ack(k)
		}
		return false, true, nil
	default:
		// A gap (a lost block inside a window: RFC 7440 §4, acknowledge the
		// last block received in order so the server resends from there), or
		// a duplicate (our ACK was lost and the server resent). In lockstep
		// every duplicate is acknowledged again (RFC 1350); in a window, once
		// per burst, so that a resent window draws one ACK, not one per block.
		if r.win == 1 || r.reacked != r.expect || time.Since(r.reackedAt) >= reackGap {
			r.reacked, r.reackedAt = r.expect, time.Now()
			return false, false, r.ack(r.expect - 1)
		}
	}
	return false, false, nil
}

// reackGap: blocks of one resent window arrive within microseconds of each
// other; a server resends no sooner than its timeout (1 s and more).
const reackGap = 100 * time.Millisecond

func tftpRequest(file string, opts [][2]string) []byte {
	b := []byte{0, tftpRRQ}
	b = append(append(b, file...), 0)
	b = append(b, "octet\x00"...)
	for _, o := range opts {
		b = append(append(b, o[0]...), 0)
		b = append(append(b, o[1]...), 0)
	}
	return b
}

func tftpAck(block uint16) []byte { return []byte{0, tftpACK, byte(block >> 8), byte(block)} }

func tftpError(code uint16, msg string) []byte {
	b := []byte{0, tftpERROR, byte(code >> 8), byte(code)}
	return append(append(b, msg...), 0)
}

func tftpErr(pkt []byte) error {
	code := binary.BigEndian.Uint16(pkt[2:])
	msg := string(bytes.TrimRight(pkt[4:], "\x00"))
	return fmt.Errorf("TFTP error %d from server: %s", code, msg)
}

func parseOACK(b []byte) map[string]string {
	m := map[string]string{}
	parts := bytes.Split(b, []byte{0})
	for i := 0; i+1 < len(parts); i += 2 {
		m[string(bytes.ToLower(parts[i]))] = string(parts[i+1])
	}
	return m
}
