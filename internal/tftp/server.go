package tftp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves files read-only over TFTP. The zero value serves nothing
// (every request gets "file not found") and works; set Root to serve files.
// Set its fields before serving and do not change them after; a Server must
// not be copied after first use.
type Server struct {
	Root fs.FS // files served; names are relative, cleaned

	// Override, when set, may replace a file's content for one client (rackboot
	// uses it to send an iPXE script instead of the iPXE binary to a client that
	// already runs iPXE: the chainload-loop breaker). Called before Root, with
	// the cleaned name; never called for a refused name.
	Override func(client netip.AddrPort, name string) (content []byte, ok bool)

	// OnTransfer, when set, is called once when each request ends, whether
	// the file was sent, refused or the transfer failed; not for requests
	// refused or transfers shed under the caps below (Stats counts those: a
	// flood would make each one a report). It runs on the transfer's
	// goroutine and should return quickly.
	OnTransfer func(Transfer)

	Logger *slog.Logger // nil: discard

	Timeout       time.Duration // first retransmit timeout, default 1s; doubles per retransmission up to 8s (a client's 'timeout' option fixes it)
	Retries       int           // retransmits without progress before giving up, default 5
	MaxBlockSize  int           // caps the client's blksize; default 1468 (fits a 1500 MTU)
	MaxWindowSize int           // caps the client's windowsize; default 64

	// MaxTransfers caps the transfers running at once, and
	// MaxTransfersPerClient those from one client address; zero means
	// DefaultMaxTransfers and DefaultMaxTransfersPerClient. When a cap is
	// hit, the oldest transfer whose client never answered is cancelled to
	// make room (a flood of requests never answers); if every transfer
	// under the cap has answered, the new request is refused with an ERROR.
	// Neither is reported to OnTransfer; Stats counts them.
	MaxTransfers          int
	MaxTransfersPerClient int

	stats      counters
	limitsInit sync.Once
	limits     *limiter
	limitLog   limitLog
	now        func() time.Time // nil: time.Now; tests fake the clock
}

// Transfer describes one request, reported to OnTransfer when it ends.
type Transfer struct {
	Client     netip.AddrPort
	File       string // cleaned name; as sent if refused
	Size       int64  // bytes the client acknowledged
	BlockSize  int
	WindowSize int
	Overridden bool // content came from Override
	Start      time.Time
	Duration   time.Duration
	Err        error // nil if the whole file was acknowledged
}

// Stats are counts since the Server started.
type Stats struct {
	Requests  int64 // RRQ and WRQ packets handled
	Transfers int64 // transfers that completed
	Failed    int64 // requests refused, and transfers that failed
	Declined  int64 // clients that answered an OACK with ERROR: PXE ROMs do so to learn a size (tsize)
	Malformed int64 // packets on the server port that were not a valid request
	Bytes     int64 // file bytes acknowledged by clients

	// Refused counts requests refused because a cap on transfers was hit
	// and no transfer under it could be shed; Shed counts transfers
	// cancelled, before their client ever answered, to make room for a
	// newer request. Neither is counted in Failed.
	Refused int64
	Shed    int64
	Active  int64 // transfers running now (not a count since start)
}

type counters struct {
	requests, transfers, failed, declined, malformed, bytes, refused, shed atomic.Int64
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests:  s.stats.requests.Load(),
		Transfers: s.stats.transfers.Load(),
		Failed:    s.stats.failed.Load(),
		Declined:  s.stats.declined.Load(),
		Malformed: s.stats.malformed.Load(),
		Bytes:     s.stats.bytes.Load(),
		Refused:   s.stats.refused.Load(),
		Shed:      s.stats.shed.Load(),
		Active:    int64(s.limiter().activeCount()),
	}
}

// limiter returns the caps on transfers, made on first use from the fields.
func (s *Server) limiter() *limiter {
	s.limitsInit.Do(func() {
		total, perClient := s.MaxTransfers, s.MaxTransfersPerClient
		if total <= 0 {
			total = DefaultMaxTransfers
		}
		if perClient <= 0 {
			perClient = DefaultMaxTransfersPerClient
		}
		s.limits = newLimiter(total, min(perClient, total))
	})
	return s.limits
}

func (s *Server) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

var discard = slog.New(slog.DiscardHandler)

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return discard
}

// ListenAndServe listens on the UDP address addr (":69", "10.0.0.1:69") and
// serves until ctx is done.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	conn, err := lc.ListenPacket(ctx, "udp", addr)
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("tftp: listen on %s: %w (ports below 1024 need root or CAP_NET_BIND_SERVICE)", addr, err)
	}
	if err != nil {
		return fmt.Errorf("tftp: listen on %s: %w", addr, err)
	}
	defer conn.Close()
	if uc, ok := conn.(*net.UDPConn); ok {
		// A boot storm brings hundreds of RRQs at once. Linux's default
		// receive buffer (212 KiB) dropped 22 of 1000 in a 500-machine
		// storm (rackboot bench storm), and each drop costs its ROM a
		// retransmission timeout (4 s for EDK2). Best effort: the kernel
		// caps the size (Linux: net.core.rmem_max).
		_ = uc.SetReadBuffer(requestReadBuffer)
	}
	return s.Serve(ctx, conn)
}

// requestReadBuffer is the receive buffer asked for the request socket.
const requestReadBuffer = 4 << 20

// Serve reads requests from conn and serves each on its own socket until ctx
// is done; then it waits for running transfers to stop and returns nil. It
// returns an error if reading conn fails otherwise. Serve does not close conn.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	rc := newRequestConn(conn)
	stop := context.AfterFunc(ctx, func() {
		_ = conn.SetReadDeadline(time.Unix(1, 0)) // wakes the read below
	})
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	s.logger().Info("tftp: serving", "addr", conn.LocalAddr().String())
	buf := make([]byte, 65536)
	for {
		n, peer, local, err := rc.readRequest(buf)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tftp: read request on %s: %w", conn.LocalAddr(), err)
		}
		s.dispatch(ctx, &wg, rc, buf[:n], peer, local)
	}
}

// dispatch parses one packet from the server port and starts its transfer.
// It runs on the reading goroutine: a request refused here costs one reply
// from the request socket, no goroutine and no socket of its own.
func (s *Server) dispatch(ctx context.Context, wg *sync.WaitGroup, rc requestConn, pkt []byte, peer netip.AddrPort, local netip.Addr) {
	if !peer.IsValid() || peer.Port() == 0 {
		s.stats.malformed.Add(1)
		return
	}
	req, err := parseRequest(pkt)
	if err != nil {
		s.stats.malformed.Add(1)
		s.logger().Debug("tftp: malformed packet", "client", peer, "bytes", len(pkt), "err", err)
		if errors.Is(err, errBadMode) {
			s.replyError(local, peer, codeIllegalOp, err.Error())
		}
		return
	}
	s.stats.requests.Add(1)
	s.logger().Debug("tftp: request", "client", peer, "file", req.file, "mode", req.mode,
		"write", req.op == opWRQ, "options", optionList(req.opts).String())
	sl, tctx := s.admit(ctx, rc, peer, local)
	if sl == nil {
		return
	}
	wg.Go(func() {
		defer s.limiter().release(sl)
		s.handle(tctx, sl, req, peer, local)
	})
}

// admit takes a place under the caps for a request from peer, shedding the
// oldest transfers that never answered if a cap is hit, and returns it with
// the transfer's context. It returns a nil slot if the request was refused.
func (s *Server) admit(ctx context.Context, rc requestConn, peer netip.AddrPort, local netip.Addr) (*slot, context.Context) {
	tctx, cancel := context.WithCancelCause(ctx)
	a := s.limiter().admit(peer.Addr(), cancel)
	for _, v := range a.victims {
		v.cancel(errShed)
	}
	s.stats.shed.Add(int64(len(a.victims)))
	refused := 0
	if a.slot == nil {
		cancel(nil)
		refused = 1
		s.stats.refused.Add(1)
		// An ERROR rather than silence: the client is told at once instead
		// of waiting out its timeouts. It comes from the request port, not
		// a new TID (RFC 1350 §4), so that a refusal costs no socket; the
		// client has no TID yet and takes the first reply's port.
		_ = rc.writeTo(encodeError(codeUndefined, "server busy: "+a.why+"; try again later"), peer, local)
	}
	if refused+len(a.victims) > 0 {
		s.limitLog.note(s.logger(), peer.Addr(), a.why, refused, len(a.victims), s.Stats)
	}
	if a.slot == nil {
		return nil, nil
	}
	return a.slot, tctx
}

// replyError answers a request that starts no transfer, from a new TID
// (RFC 1350 §4). It is for rare mistakes; refusals under a flood reply from
// the request port instead (admit), so that they cost no socket.
func (s *Server) replyError(local netip.Addr, peer netip.AddrPort, code uint16, msg string) {
	c, err := listenTransfer(local, peer)
	if err != nil {
		s.logger().Warn("tftp: open socket for error reply", "client", peer, "err", err)
		return
	}
	defer c.Close()
	_, _ = c.WriteToUDPAddrPort(encodeError(code, msg), peer)
}

// handle runs one request to its end and reports it.
func (s *Server) handle(ctx context.Context, sl *slot, req request, peer netip.AddrPort, local netip.Addr) {
	t := &transfer{
		srv:  s,
		slot: sl,
		peer: peer,
		rec: Transfer{Client: peer, File: req.file, BlockSize: defaultBlockSize,
			WindowSize: 1, Start: time.Now()},
		timeout: s.timeout(),
		retries: s.retries(),
	}
	t.rec.Err = t.run(ctx, req, local)
	s.finish(t.rec)
}

// finish counts, logs and reports a finished request.
func (s *Server) finish(rec Transfer) {
	rec.Duration = time.Since(rec.Start)
	s.stats.bytes.Add(rec.Size)
	log := s.logger().With("client", rec.Client, "file", rec.File, "bytes", rec.Size,
		"blksize", rec.BlockSize, "windowsize", rec.WindowSize, "duration", rec.Duration)
	if rec.Overridden {
		log = log.With("overridden", true)
	}
	switch {
	case errors.Is(rec.Err, errShed):
		// Counted when shed, and logged at a bounded rate (limitLog): a
		// flood brings thousands a second. Not a boot step: not reported.
		log.Debug("tftp: transfer shed", "err", rec.Err)
		return
	case rec.Err == nil:
		s.stats.transfers.Add(1)
		log.Info("tftp: transfer done")
	case errors.Is(rec.Err, ErrOptionsDeclined):
		s.stats.declined.Add(1)
		log.Debug("tftp: client declined options", "err", rec.Err)
	case errors.Is(rec.Err, fs.ErrNotExist):
		// Routine: pxelinux, for one, probes a list of config names.
		s.stats.failed.Add(1)
		log.Info("tftp: file not found", "err", rec.Err)
	default:
		s.stats.failed.Add(1)
		log.Warn("tftp: transfer failed", "err", rec.Err)
	}
	if s.OnTransfer != nil {
		s.OnTransfer(rec)
	}
}
