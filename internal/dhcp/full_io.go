package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// ioBatch is how many datagrams one system call reads or writes at most
// (recvmmsg and sendmmsg on Linux; elsewhere x/net/ipv4 does one at a time).
const ioBatch = 64

// serverLoop reads port 67 until its socket is closed, many datagrams per
// system call when several are waiting, and hands each to dispatch.
func (s *FullServer) serverLoop(ctx context.Context, c *conn) error {
	ms := make([]ipv4.Message, ioBatch)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, 4096)} // DHCP messages are at most a path MTU
		ms[i].OOB = ipv4.NewControlMessage(ipv4.FlagInterface)
	}
	var cm ipv4.ControlMessage
	for {
		n, err := c.pc.ReadBatch(ms, 0)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("DHCP: read on port %d: %w", c.port, err)
		}
		for i := range n {
			m := &ms[i]
			in := 0
			if m.NN > 0 && cm.Parse(m.OOB[:m.NN]) == nil {
				in = cm.IfIndex
			}
			ua, ok := m.Addr.(*net.UDPAddr)
			if !ok || c.ifindex != 0 && in != 0 && in != c.ifindex {
				continue // another interface's broadcast (BSD, illumos: no bind to device)
			}
			// dispatch decodes at once, copying what it keeps: the buffer
			// is free again when it returns.
			s.dispatch(ctx, c, m.Buffers[0][:m.N], ua.AddrPort(), in)
		}
	}
}

// outMsg is one reply to send.
type outMsg struct {
	b       []byte
	dest    netip.AddrPort
	ifindex int // the interface the request came in on; 0: any
}

// startSender starts the goroutine that sends every reply through c:
// replies that are ready together (the ACKs of one group commit) leave in
// one system call.
func (s *FullServer) startSender(c *conn) {
	s.out = make(chan outMsg, 4*ioBatch)
	s.senderDone = make(chan struct{})
	go func() {
		defer close(s.senderDone)
		batch := make([]outMsg, 0, ioBatch)
		ms := make([]ipv4.Message, ioBatch)
		for m := range s.out {
			batch = append(batch[:0], m)
		more:
			for len(batch) < ioBatch {
				select {
				case m, ok := <-s.out:
					if !ok {
						break more
					}
					batch = append(batch, m)
				default:
					break more
				}
			}
			s.writeBatch(c, batch, ms)
		}
	}()
}

func (s *FullServer) send(m outMsg) { s.out <- m }

// stopSender sends what is queued and stops the sender.
func (s *FullServer) stopSender() {
	if s.out != nil {
		close(s.out)
		<-s.senderDone
	}
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
			// The datagram at sent failed (a full send buffer, a
			// route gone): count it, log it, go on with the rest.
			s.counts.sendErrors.Add(1)
			s.logger().Warn("DHCP could not send reply", "to", batch[sent].dest.String(), "err", err)
			n = 1
		}
		sent += max(n, 1)
	}
}
