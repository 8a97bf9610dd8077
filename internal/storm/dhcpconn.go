package storm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"

	"rackboot/internal/dhcp4"
)

// dhcpConn is the one DHCP socket all simulated machines share: 0.0.0.0:68
// on the chosen interface. Every reply is handed to the machine whose
// transaction id (xid) it carries, if its chaddr is that machine's MAC.
// The socket only ever sends to server ports (67 and 4011): the simulator is
// a client and never answers DHCP.
type dhcpConn struct {
	pc *ipv4.PacketConn
	uc *net.UDPConn

	mu      sync.Mutex
	waiters map[uint32]*waiter

	sent, received, stray atomic.Int64
}

type waiter struct {
	mac net.HardwareAddr
	ch  chan dhcpReply
}

// dhcpReply is one reply received for a machine.
type dhcpReply struct {
	p    *dhcp4.Packet
	from netip.AddrPort
}

// listenDHCP opens the shared client socket on ifname (every interface when
// empty) and starts its reader, which stops when ctx ends or Close is called.
func listenDHCP(ctx context.Context, ifname string) (*dhcpConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = clientSockopts(fd, ifname) }); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(ctx, "udp4", "0.0.0.0:68")
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen on UDP port 68: %w: a DHCP client (dhclient, systemd-networkd) holds it; "+
				"run the storm on an interface in a network namespace of its own", err)
		}
		if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
			return nil, fmt.Errorf("listen on UDP port 68: %w: the simulated DHCP clients need root (or CAP_NET_BIND_SERVICE and CAP_NET_RAW)", err)
		}
		return nil, fmt.Errorf("listen on UDP port 68 of %s: %w", ifname, err)
	}
	c := &dhcpConn{uc: pc.(*net.UDPConn), waiters: map[uint32]*waiter{}}
	c.pc = ipv4.NewPacketConn(c.uc)
	go c.readLoop()
	context.AfterFunc(ctx, func() { c.Close() })
	return c, nil
}

func (c *dhcpConn) Close() error { return c.uc.Close() }

// register routes replies with xid to the returned channel until unregister.
func (c *dhcpConn) register(xid uint32, mac net.HardwareAddr) (<-chan dhcpReply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, taken := c.waiters[xid]; taken {
		return nil, fmt.Errorf("xid %08x already in use", xid)
	}
	w := &waiter{mac: mac, ch: make(chan dhcpReply, 16)}
	c.waiters[xid] = w
	return w.ch, nil
}

func (c *dhcpConn) unregister(xid uint32) {
	c.mu.Lock()
	delete(c.waiters, xid)
	c.mu.Unlock()
}

// send writes p to dst. src, when valid, is the source address to use (a
// leased address, for the ProxyDHCPREQUEST to port 4011); otherwise the
// kernel picks.
func (c *dhcpConn) send(p *dhcp4.Packet, dst netip.AddrPort, src netip.Addr) error {
	var cm *ipv4.ControlMessage
	if src.IsValid() {
		cm = &ipv4.ControlMessage{Src: src.AsSlice()}
	}
	_, err := c.pc.WriteTo(p.Marshal(), cm, net.UDPAddrFromAddrPort(dst))
	if err == nil {
		c.sent.Add(1)
	}
	return err
}

func (c *dhcpConn) readLoop() {
	buf := make([]byte, 4096)
	for {
		n, _, from, err := c.pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			time.Sleep(10 * time.Millisecond) // e.g. ENOBUFS: keep reading
			continue
		}
		c.received.Add(1)
		p, err := dhcp4.Parse(buf[:n])
		if err != nil || p.Op != dhcp4.OpReply {
			c.stray.Add(1)
			continue
		}
		ua, _ := from.(*net.UDPAddr)
		var src netip.AddrPort
		if ua != nil {
			src = ua.AddrPort()
		}
		c.mu.Lock()
		w := c.waiters[p.XID]
		c.mu.Unlock()
		if w == nil || string(w.mac) != string(p.CHAddr) {
			c.stray.Add(1)
			continue
		}
		select {
		case w.ch <- dhcpReply{p: p, from: src}:
		default: // the machine is not keeping up: a lost packet, like on a wire
		}
	}
}
