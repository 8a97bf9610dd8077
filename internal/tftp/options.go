package tftp

import (
	"strconv"
	"time"
)

// Limits from the RFCs, and the defaults a zero Server uses.
const (
	minBlockSize     = 8     // RFC 2348
	maxBlockSize     = 65464 // RFC 2348
	defaultBlockSize = 512   // RFC 1350
	// DefaultMaxBlockSize fits one DATA packet in a 1500-byte Ethernet frame:
	// 1500 - 20 (IPv4) - 8 (UDP) - 4 (TFTP). EDK2 asks for exactly this.
	DefaultMaxBlockSize  = 1468
	maxWindowSize        = 65535 // RFC 7440
	DefaultMaxWindowSize = 64    // tftp-hpa's cap; RFC 7440 §5 finds no gain beyond
	minTimeoutOption     = 1     // seconds, RFC 2349
	maxTimeoutOption     = 255
	DefaultTimeout       = time.Second
	DefaultRetries       = 5
)

// params are the settings one transfer runs with, after negotiation.
type params struct {
	blockSize    int
	windowSize   int
	timeout      time.Duration
	timeoutAsked bool // the client's timeout option set it
}

// negotiate applies the options a client asked for (RFC 2347) and returns the
// transfer's settings and the options to acknowledge in an OACK: none means
// send DATA 1 straight away. Unknown options and out-of-range values are
// ignored, not refused. size is the transfer size in bytes, or -1 if unknown
// (netascii), in which case tsize is not acknowledged.
func (s *Server) negotiate(opts []option, size int64) (params, []option) {
	p := params{blockSize: defaultBlockSize, windowSize: 1, timeout: s.timeout()}
	var ack []option
	seen := map[string]bool{}
	for _, o := range opts {
		if seen[o.name] {
			continue // a repeated option: the first one counts
		}
		seen[o.name] = true
		v, err := strconv.Atoi(o.value)
		switch {
		case err != nil:
			continue
		case o.name == "blksize" && v >= minBlockSize && v <= maxBlockSize:
			// RFC 2348: the server may answer a smaller size than asked.
			p.blockSize = min(v, s.maxBlockSize())
			ack = append(ack, option{o.name, strconv.Itoa(p.blockSize)})
		case o.name == "windowsize" && v >= 1 && v <= maxWindowSize:
			// RFC 7440 §3: the server may answer a smaller window than asked.
			p.windowSize = min(v, s.maxWindowSize())
			ack = append(ack, option{o.name, strconv.Itoa(p.windowSize)})
		case o.name == "timeout" && v >= minTimeoutOption && v <= maxTimeoutOption:
			// RFC 2349: the server must echo the client's value unchanged.
			p.timeout, p.timeoutAsked = time.Duration(v)*time.Second, true
			ack = append(ack, option{o.name, o.value})
		case o.name == "tsize" && size >= 0:
			// RFC 2349: a client sends tsize 0 in an RRQ and learns the size.
			ack = append(ack, option{o.name, strconv.FormatInt(size, 10)})
		}
	}
	return p, ack
}

func (s *Server) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

func (s *Server) retries() int {
	if s.Retries > 0 {
		return s.Retries
	}
	return DefaultRetries
}

func (s *Server) maxBlockSize() int {
	if s.MaxBlockSize <= 0 {
		return DefaultMaxBlockSize
	}
	return min(max(s.MaxBlockSize, minBlockSize), maxBlockSize)
}

func (s *Server) maxWindowSize() int {
	if s.MaxWindowSize <= 0 {
		return DefaultMaxWindowSize
	}
	return min(s.MaxWindowSize, maxWindowSize)
}
