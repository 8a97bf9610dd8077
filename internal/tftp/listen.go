package tftp

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// requestConn reads requests from the server's well-known port and reports the
// local address each was sent to, when known. writeTo answers a request from
// that port and address without a socket of its own (refusals).
type requestConn interface {
	readRequest(b []byte) (n int, peer netip.AddrPort, local netip.Addr, err error)
	writeTo(b []byte, peer netip.AddrPort, local netip.Addr) error
}

// newRequestConn wraps the listening socket. A socket bound to one address
// answers from that address. A socket bound to the unspecified address asks the
// kernel for each packet's destination (IP_PKTINFO, IP_RECVDSTADDR,
// IPV6_RECVPKTINFO) so that the reply comes from the address the client sent
// to: PXE ROMs (EDK2's Mtftp among them) drop replies from another address,
// which matters on hosts with several addresses. If that cannot be had, the
// transfer socket is unbound and the kernel picks.
func newRequestConn(conn net.PacketConn) requestConn {
	local := addrPortOf(conn.LocalAddr()).Addr().Unmap()
	if local.IsValid() && !local.IsUnspecified() {
		return plainConn{conn, local}
	}
	if uc, ok := conn.(*net.UDPConn); ok {
		if rc := newDstConn(uc); rc != nil {
			return rc
		}
	}
	return plainConn{conn, netip.Addr{}}
}

// plainConn reports a fixed local address (possibly invalid: unknown).
type plainConn struct {
	conn  net.PacketConn
	local netip.Addr
}

func (c plainConn) readRequest(b []byte) (int, netip.AddrPort, netip.Addr, error) {
	n, from, err := c.conn.ReadFrom(b)
	return n, addrPortOf(from), c.local, err
}

func (c plainConn) writeTo(b []byte, peer netip.AddrPort, _ netip.Addr) error {
	_, err := c.conn.WriteTo(b, net.UDPAddrFromAddrPort(peer))
	return err
}

// newDstConn asks for destination addresses on uc, or returns nil if the
// platform or socket can't tell them.
func newDstConn(uc *net.UDPConn) requestConn {
	la, ok := uc.LocalAddr().(*net.UDPAddr)
	if !ok {
		return nil
	}
	if la.IP.To4() != nil {
		p := ipv4.NewPacketConn(uc)
		if p.SetControlMessage(ipv4.FlagDst, true) != nil {
			return nil
		}
		return dst4Conn{p}
	}
	p := ipv6.NewPacketConn(uc)
	if p.SetControlMessage(ipv6.FlagDst, true) != nil {
		return nil
	}
	return dst6Conn{p}
}

type dst4Conn struct{ p *ipv4.PacketConn }

func (c dst4Conn) readRequest(b []byte) (int, netip.AddrPort, netip.Addr, error) {
	n, cm, from, err := c.p.ReadFrom(b)
	var local netip.Addr
	if cm != nil {
		local, _ = netip.AddrFromSlice(cm.Dst)
	}
	return n, addrPortOf(from), local.Unmap(), err
}

// writeTo sends from local when it can be a source (not a broadcast the
// request was sent to), else lets the kernel choose.
func (c dst4Conn) writeTo(b []byte, peer netip.AddrPort, local netip.Addr) error {
	var cm *ipv4.ControlMessage
	if usableSource(local, peer) {
		cm = &ipv4.ControlMessage{Src: local.AsSlice()}
	}
	_, err := c.p.WriteTo(b, cm, net.UDPAddrFromAddrPort(peer))
	if err != nil && cm != nil {
		_, err = c.p.WriteTo(b, nil, net.UDPAddrFromAddrPort(peer))
	}
	return err
}

type dst6Conn struct{ p *ipv6.PacketConn }

func (c dst6Conn) readRequest(b []byte) (int, netip.AddrPort, netip.Addr, error) {
	n, cm, from, err := c.p.ReadFrom(b)
	var local netip.Addr
	if cm != nil {
		// A dual-stack socket reports IPv4 destinations as ::ffff:a.b.c.d.
		local, _ = netip.AddrFromSlice(cm.Dst)
	}
	return n, addrPortOf(from), local.Unmap(), err
}

func (c dst6Conn) writeTo(b []byte, peer netip.AddrPort, local netip.Addr) error {
	var cm *ipv6.ControlMessage
	if usableSource(local, peer) {
		cm = &ipv6.ControlMessage{Src: local.AsSlice()}
	}
	to := net.UDPAddrFromAddrPort(peer)
	if peer.Addr().Is4() {
		// A dual-stack socket sends to IPv4 clients at ::ffff:a.b.c.d.
		to = net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom16(peer.Addr().As16()), peer.Port()))
		if cm != nil {
			cm.Src = netip.AddrFrom16(local.As16()).AsSlice()
		}
	}
	_, err := c.p.WriteTo(b, cm, to)
	if err != nil && cm != nil {
		_, err = c.p.WriteTo(b, nil, to)
	}
	return err
}

// usableSource: local can be the source of a reply to peer.
func usableSource(local netip.Addr, peer netip.AddrPort) bool {
	return local.IsValid() && !local.IsUnspecified() && !local.IsMulticast() && local.Is4() == peer.Addr().Is4()
}

// addrPortOf converts a socket address, unmapping ::ffff:a.b.c.d to a.b.c.d.
// It returns the zero AddrPort for an address that is not UDP/IP.
func addrPortOf(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case nil:
		return netip.AddrPort{}
	default:
		ap, _ = netip.ParseAddrPort(a.String())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// listenTransfer opens a transfer's socket (its TID, RFC 1350 §4): a new
// ephemeral port on local when local is a usable unicast address of the
// client's family, else on the unspecified address.
func listenTransfer(local netip.Addr, peer netip.AddrPort) (*net.UDPConn, error) {
	network := "udp6"
	if peer.Addr().Is4() {
		network = "udp4"
	}
	if usableSource(local, peer) {
		c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
		if err == nil {
			return c, nil
		}
		// A request sent to a broadcast address, or a link-local address
		// without its zone, can't be a source: let the kernel choose.
	}
	return net.ListenUDP(network, &net.UDPAddr{})
}
