package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/sync/errgroup"
)

// The sockets of both servers: one listen, one read loop, one way to run
// several sockets until the context ends. What differs is only what is done
// with each datagram.

// ErrAddrInUse is wrapped by Serve's error when a port is taken, typically by
// another DHCP server on this host.
var ErrAddrInUse = errors.New("address in use")

// conn is one listening socket.
type conn struct {
	pc        *ipv4.PacketConn
	port      int
	ifindex   int        // 0: any interface
	broadcast netip.Addr // what "broadcast" means when sending here
}

// listen opens UDP port on ifi (every interface when nil): a socket that
// sends and receives broadcasts (listen_<os>.go) and reports the interface
// each datagram arrived on.
func listen(ctx context.Context, ifi *net.Interface, port int, log *slog.Logger) (*conn, error) {
	c, err := listenUDP(ctx, ifi, port)
	if err != nil {
		if isAddrInUse(err) {
			return nil, fmt.Errorf("DHCP: listen on UDP port %d: %w: another DHCP server on this host? "+
				"stop it, or leave DHCP to it and run rackboot beside it: --dhcp-mode proxy when it "+
				"leases the addresses, off when it also says what to boot (%v)", port, ErrAddrInUse, err)
		}
		return nil, fmt.Errorf("DHCP: listen on UDP port %d of %s: %w", port, ifName(ifi), err)
	}
	// Room for bursts: a boot storm broadcasts hundreds of DISCOVERs at
	// once (with Linux's default buffer the proxy dropped 222 of 500,
	// rackboot bench storm, and each costs its ROM a 4 s retransmission),
	// a relay flushes its queue while the store commits, and port 68
	// (rogue detection) hears every broadcast reply on the segment, ours
	// included. sockbuf_*.go.
	growSocketBuffers(c, 4<<20, log)
	pc := ipv4.NewPacketConn(c)
	if err := pc.SetControlMessage(ipv4.FlagInterface, true); err != nil {
		// Without the arrival interface we cannot filter by it; on Linux
		// SO_BINDTODEVICE filters anyway.
		log.Debug("DHCP: no interface control messages", "port", port, "err", err)
	}
	cn := &conn{pc: pc, port: port, broadcast: broadcastAddr(ifi)}
	if ifi != nil {
		cn.ifindex = ifi.Index
	}
	return cn, nil
}

// listenAll opens each of ports on ifi, or none: when one fails, it closes
// those it opened.
func listenAll(ctx context.Context, ifi *net.Interface, ports []int, log *slog.Logger) ([]*conn, error) {
	var conns []*conn
	for _, port := range ports {
		c, err := listen(ctx, ifi, port, log)
		if err != nil {
			for _, c := range conns {
				c.pc.Close()
			}
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// ioBatch is how many datagrams one system call reads or writes at most
// (recvmmsg and sendmmsg on Linux; elsewhere x/net/ipv4 does one at a time).
const ioBatch = 64

// maxDatagram is the largest DHCP message read whole. Clients send at most
// what fits their link's MTU (RFC 2131 §2: 576 bytes unless option 57 says
// more); a longer datagram is cut here and fails to parse, or parses
// without its tail.
const maxDatagram = 4096

// readLoop reads c until its socket is closed, many datagrams per system
// call when several are waiting, and hands each to handle with its source
// and the index of the interface it arrived on (0: unknown). handle must be
// done with b when it returns: the buffer is read into again. After each
// batch it calls batchDone, when not nil. It returns nil once ctx is done,
// or the error that stopped the reading.
func readLoop(ctx context.Context, c *conn, handle func(b []byte, src netip.AddrPort, in int), batchDone func()) error {
	ms := make([]ipv4.Message, ioBatch)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, maxDatagram)}
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
			handle(m.Buffers[0][:m.N], ua.AddrPort(), in)
		}
		if batchDone != nil {
			batchDone()
		}
	}
}

// loop is a socket and what reads it.
type loop struct {
	c   *conn
	run func(context.Context, *conn) error
}

// serveLoops runs every loop until ctx is done or one of them fails, which
// stops the others; then it closes the sockets and returns the first error.
func serveLoops(ctx context.Context, loops []loop) error {
	g, ctx := errgroup.WithContext(ctx)
	context.AfterFunc(ctx, func() {
		for _, l := range loops {
			l.c.pc.Close() // ends each loop's read
		}
	})
	for _, l := range loops {
		g.Go(func() error { return l.run(ctx, l.c) })
	}
	return g.Wait()
}

// ifOut sends a reply out of the interface its request came in on, which
// matters for 255.255.255.255 when serving every interface.
func ifOut(in int) *ipv4.ControlMessage {
	if in == 0 {
		return nil
	}
	return &ipv4.ControlMessage{IfIndex: in}
}
