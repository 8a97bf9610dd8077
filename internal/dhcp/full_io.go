package dhcp

import (
	"context"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// serverLoop reads port 67 until its socket is closed and hands each
// datagram to dispatch, which decodes it at once, copying what it keeps.
// The answers to one read batch that were ready at once (OFFERs, NAKs)
// leave together after it; ACKs leave when their commit is done.
func (s *FullServer) serverLoop(ctx context.Context, c *conn) error {
	var out outbox
	return readLoop(ctx, c,
		func(b []byte, src netip.AddrPort, in int) { s.dispatch(ctx, c, b, src, in, &out) },
		func() { s.flush(c, &out) })
}

// outMsg is one reply to send.
type outMsg struct {
	b       []byte
	dest    netip.AddrPort
	ifindex int // the interface the request came in on; 0: any
}

// outbox collects the replies to one read batch, sent together after it.
type outbox struct {
	msgs []outMsg
	ms   []ipv4.Message
}

// send writes m now, or puts it in out when there is one.
func (s *FullServer) send(c *conn, m outMsg, out *outbox) {
	if out != nil {
		out.msgs = append(out.msgs, m)
		return
	}
	if _, err := c.pc.WriteTo(m.b, ifOut(m.ifindex), net.UDPAddrFromAddrPort(m.dest)); err != nil {
		s.sendFailed(m, err)
	}
}

// flush sends what out holds, many to a system call.
func (s *FullServer) flush(c *conn, out *outbox) {
	if len(out.msgs) > 0 {
		if len(out.ms) < ioBatch {
			out.ms = make([]ipv4.Message, ioBatch)
		}
		// Walk a copy of the slice header: out.msgs keeps its whole
		// backing array for the next batch.
		for msgs := out.msgs; len(msgs) > 0; {
			n := min(len(msgs), ioBatch)
			s.writeBatch(c, msgs[:n], out.ms)
			msgs = msgs[n:]
		}
	}
	out.msgs = out.msgs[:0]
}

func (s *FullServer) sendFailed(m outMsg, err error) {
	// A full send buffer, a route gone: count it, log it, go on.
	s.counts.sendErrors.Add(1)
	s.logger().Warn("DHCP could not send reply", "to", m.dest.String(), "err", err)
}

func (s *FullServer) writeBatch(c *conn, batch []outMsg, ms []ipv4.Message) {
	for i, m := range batch {
		ms[i] = ipv4.Message{Buffers: [][]byte{m.b}, Addr: net.UDPAddrFromAddrPort(m.dest)}
		if m.ifindex != 0 {
			ms[i].OOB = ifOut(m.ifindex).Marshal()
		}
	}
	for sent := 0; sent < len(batch); {
		n, err := c.pc.WriteBatch(ms[sent:len(batch)], 0)
		if err != nil {
			s.sendFailed(batch[sent], err) // the datagram at sent failed; go on with the rest
			n = 1
		}
		sent += max(n, 1)
	}
}
