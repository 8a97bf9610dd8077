package storm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"rackboot/internal/dhcp4"
)

var (
	bcastServer = netip.MustParseAddrPort("255.255.255.255:67")

	// errNoBootFile: an address was offered, but nobody said what to boot.
	errNoBootFile = errors.New("an address was offered but no boot file (no proxyDHCP answer, no file in the offer)")
)

// identity is what a simulated machine tells DHCP about itself.
type identity struct {
	mac  net.HardwareAddr
	uuid [16]byte
	arch uint16 // RFC 4578 §2.1: 0 BIOS, 7 x86-64 UEFI
}

// options are the client options a PXE ROM sends (PXE spec 2.1 §2.2.1,
// RFC 4578), and iPXE's additions: user class "iPXE" (77) and its
// encapsulated options (175), which is how servers tell iPXE from a ROM.
func (id identity) options(ipxe bool) dhcp4.Options {
	o := dhcp4.Options{
		dhcp4.OptVendorClass:    fmt.Appendf(nil, "PXEClient:Arch:%05d:UNDI:002001", id.arch),
		dhcp4.OptClientArch:     {byte(id.arch >> 8), byte(id.arch)},
		dhcp4.OptClientNDI:      {1, 2, 1}, // UNDI 2.1
		dhcp4.OptUUID:           append([]byte{0}, id.uuid[:]...),
		dhcp4.OptMaxMessageSize: {0x05, 0xc0}, // 1472
		dhcp4.OptParamRequest:   {1, 3, 6, 12, 15, 17, 43, 54, 60, 66, 67, 93, 94, 97, 128, 129, 130, 131, 132, 133, 134, 135},
	}
	if ipxe {
		o[dhcp4.OptUserClass] = []byte("iPXE")
		o[dhcp4.OptIPXE] = []byte{19, 1, 1, 20, 1, 1} // HTTP and HTTPS features
		o[dhcp4.OptParamRequest] = append(o[dhcp4.OptParamRequest], 175, 203)
	}
	return o
}

// lease is what one DHCP conversation gave a machine.
type lease struct {
	addr     netip.Addr
	bits     int        // prefix length (option 1), 24 if absent
	server   netip.Addr // the DHCP server that leased addr (option 54)
	bootFile string
	next     netip.Addr // where bootFile is (TFTP server)
	// proxy is the proxyDHCP server whose offer carried the boot
	// information, invalid when the DHCP server's offer did.
	proxy netip.Addr
	sends int // DHCP packets sent, retransmissions included
}

// offer is a DHCPOFFER (or ACK) and who sent it.
type offer struct {
	p    *dhcp4.Packet
	from netip.AddrPort
}

// serverID is option 54, else the address the offer came from.
func (o *offer) serverID() netip.Addr {
	if sid := o.p.ServerID(); sid.IsValid() {
		return sid
	}
	return o.from.Addr()
}

// isProxy: a PXE offer without an address (PXE spec 2.1 §2.2.5).
func (o *offer) isProxy() bool {
	return (!o.p.YIAddr.IsValid() || o.p.YIAddr.IsUnspecified()) &&
		strings.HasPrefix(string(o.p.Options.Get(dhcp4.OptVendorClass)), "PXEClient")
}

// bootFile is option 67, else the BOOTP file field.
func bootFile(p *dhcp4.Packet) string {
	if v := p.Options.Get(dhcp4.OptBootFile); len(v) > 0 {
		return strings.TrimRight(string(v), "\x00")
	}
	return p.File
}

// nextServer is where the boot file is: siaddr, else option 66 when it is an
// address, else the server identifier.
func nextServer(o *offer) netip.Addr {
	if o.p.SIAddr.Is4() && !o.p.SIAddr.IsUnspecified() {
		return o.p.SIAddr
	}
	if a, err := netip.ParseAddr(strings.TrimRight(string(o.p.Options.Get(dhcp4.OptTFTPServer)), "\x00")); err == nil && a.Is4() {
		return a
	}
	return o.serverID()
}

// dhcpClient runs one machine's DHCP conversations over the shared socket.
type dhcpClient struct {
	conn  *dhcpConn
	id    identity
	start time.Time // for the secs field
	xid   func() uint32
}

func (c *dhcpClient) packet(t dhcp4.MessageType, xid uint32, ipxe bool) *dhcp4.Packet {
	p := &dhcp4.Packet{
		Op: dhcp4.OpRequest, HType: 1, XID: xid,
		Secs: uint16(min(time.Since(c.start)/time.Second, 0xffff)),
		// Both PXE ROMs and iPXE set BROADCAST: they cannot take a unicast
		// before their IP stack has an address (RFC 2131 §4.1).
		Flags:   0x8000,
		CHAddr:  c.id.mac,
		Options: c.id.options(ipxe),
	}
	p.Options[dhcp4.OptMessageType] = []byte{byte(t)}
	return p
}

// exchange runs DISCOVER/OFFER/REQUEST/ACK. DISCOVERs are sent at the
// times of discover (PXE spec 2.1 §2.2.1: 4, 8, 16, 32 s for ROMs; iPXE
// starts at 1 s); offers are gathered until there is an address and boot
// information (in the address offer, or a proxyDHCP offer), or, with
// proxyWait > 0 (iPXE), an address and proxyWait gone by at an offer or a
// DISCOVER timer; then the address is requested from the server that
// offered it, on the times of request (ROMs: the same; iPXE: from a quarter
// second, six REQUESTs). A lease without boot information has bootFile "".
func (c *dhcpClient) exchange(ctx context.Context, ipxe bool, discover, request []time.Duration, proxyWait time.Duration) (lease, error) {
	var l lease
	xid, ch, err := c.registerXID()
	if err != nil {
		return l, err
	}
	defer c.conn.unregister(xid)

	addrOffer, proxyOffer, err := c.discover(ctx, ch, xid, ipxe, discover, proxyWait, &l.sends)
	if err != nil {
		return l, err
	}
	ack, err := c.request(ctx, ch, xid, ipxe, addrOffer, request, &l.sends)
	if err != nil {
		return l, err
	}
	l.addr, l.server, l.bits = ack.p.YIAddr, addrOffer.serverID(), 24
	if m := ack.p.Options.Get(dhcp4.OptSubnetMask); len(m) == 4 {
		if ones, bits := net.IPMask(m).Size(); bits == 32 {
			l.bits = ones
		}
	}
	switch {
	case proxyOffer != nil:
		l.proxy = proxyOffer.serverID()
		l.bootFile, l.next = bootFile(proxyOffer.p), nextServer(proxyOffer)
	case bootFile(ack.p) != "":
		l.bootFile, l.next = bootFile(ack.p), nextServer(ack)
	default:
		l.bootFile, l.next = bootFile(addrOffer.p), nextServer(addrOffer)
	}
	return l, nil
}

func (c *dhcpClient) registerXID() (uint32, <-chan dhcpReply, error) {
	for range 8 {
		xid := c.xid()
		if ch, err := c.conn.register(xid, c.id.mac); err == nil {
			return xid, ch, nil
		}
	}
	return 0, nil, errors.New("no free DHCP transaction id")
}

func (c *dhcpClient) discover(ctx context.Context, ch <-chan dhcpReply, xid uint32, ipxe bool,
	schedule []time.Duration, proxyWait time.Duration, sends *int) (addrOffer, proxyOffer *offer, err error) {
	start := time.Now()
	usable := func() bool { return discoverDone(addrOffer, proxyOffer, time.Since(start), proxyWait) }
	for _, wait := range schedule {
		p := c.packet(dhcp4.Discover, xid, ipxe)
		if err := c.conn.send(p, bcastServer, netip.Addr{}); err != nil {
			return nil, nil, fmt.Errorf("send DHCPDISCOVER: %w", err)
		}
		*sends++
		timer := time.NewTimer(wait)
	collect:
		for !usable() {
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil, nil, ctx.Err()
			case <-timer.C:
				break collect
			case r := <-ch:
				if r.p.MessageType() != dhcp4.Offer {
					continue
				}
				o := &offer{p: r.p, from: r.from}
				switch {
				case o.isProxy():
					if proxyOffer == nil {
						proxyOffer = o
					}
				case r.p.YIAddr.Is4() && !r.p.YIAddr.IsUnspecified() && addrOffer == nil:
					addrOffer = o
				}
			}
		}
		timer.Stop()
		if usable() {
			return addrOffer, proxyOffer, nil
		}
	}
	if addrOffer != nil {
		return nil, nil, errNoBootFile
	}
	if proxyOffer != nil {
		// Which server failed the machine: the DHCP server (no address),
		// not the proxy, which answered.
		return nil, nil, fmt.Errorf("no DHCPOFFER with an address after %d DHCPDISCOVERs (the proxyDHCP offer from %v came)",
			len(schedule), proxyOffer.serverID())
	}
	return nil, nil, fmt.Errorf("no DHCPOFFER after %d DHCPDISCOVERs", len(schedule))
}

// discoverDone is iPXE's test, in dhcp_discovery_rx and
// dhcp_discovery_expired, for leaving discovery: an address offer, and
// boot information (a proxyDHCP offer, or a boot file in the address
// offer) or, with proxyWait > 0, no more patience for it (elapsed past
// proxyWait). A PXE ROM (proxyWait 0) waits for boot information as long
// as its schedule lasts.
func discoverDone(addrOffer, proxyOffer *offer, elapsed, proxyWait time.Duration) bool {
	if addrOffer == nil {
		return false
	}
	return proxyOffer != nil || bootFile(addrOffer.p) != "" || (proxyWait > 0 && elapsed > proxyWait)
}

func (c *dhcpClient) request(ctx context.Context, ch <-chan dhcpReply, xid uint32, ipxe bool, o *offer,
	schedule []time.Duration, sends *int) (*offer, error) {
	server := o.serverID()
	for _, wait := range schedule {
		p := c.packet(dhcp4.Request, xid, ipxe)
		yi := o.p.YIAddr.As4()
		sid := server.As4()
		p.Options[dhcp4.OptRequestedIP] = yi[:]
		p.Options[dhcp4.OptServerID] = sid[:]
		if err := c.conn.send(p, bcastServer, netip.Addr{}); err != nil {
			return nil, fmt.Errorf("send DHCPREQUEST: %w", err)
		}
		*sends++
		if r, err := awaitReply(ctx, ch, wait, func(r dhcpReply) bool {
			mt := r.p.MessageType()
			return (mt == dhcp4.Ack || mt == dhcp4.Nak) && (&offer{p: r.p, from: r.from}).serverID() == server
		}); err != nil {
			return nil, err
		} else if r != nil {
			if r.p.MessageType() == dhcp4.Nak {
				return nil, fmt.Errorf("DHCPNAK from %v: %s", server, r.p.Options.Get(56))
			}
			return &offer{p: r.p, from: r.from}, nil
		}
	}
	return nil, fmt.Errorf("no DHCPACK from %v after %d DHCPREQUESTs", server, len(schedule))
}

// proxyRequest is the ProxyDHCPREQUEST (PXE spec 2.1 §2.2.6): the client,
// now with an address, asks the proxy on port 4011 for its boot file.
func (c *dhcpClient) proxyRequest(ctx context.Context, l *lease, schedule []time.Duration) error {
	xid, ch, err := c.registerXID()
	if err != nil {
		return err
	}
	defer c.conn.unregister(xid)
	dst := netip.AddrPortFrom(l.proxy, dhcp4.PortPXE)
	for _, wait := range schedule {
		p := c.packet(dhcp4.Request, xid, false)
		p.Flags = 0 // it has an address now: unicast answers
		p.CIAddr = l.addr
		if err := c.conn.send(p, dst, l.addr); err != nil {
			return fmt.Errorf("send ProxyDHCPREQUEST to %v: %w", dst, err)
		}
		l.sends++
		r, err := awaitReply(ctx, ch, wait, func(r dhcpReply) bool { return r.p.MessageType() == dhcp4.Ack })
		if err != nil {
			return err
		}
		if r != nil {
			o := &offer{p: r.p, from: r.from}
			if f := bootFile(r.p); f != "" {
				l.bootFile, l.next = f, nextServer(o)
				return nil
			}
			return fmt.Errorf("ProxyDHCPACK from %v names no boot file", dst)
		}
	}
	return fmt.Errorf("no ProxyDHCPACK from %v after %d requests", dst, len(schedule))
}

// awaitReply waits up to d for a reply that ok accepts; nil, nil on timeout.
func awaitReply(ctx context.Context, ch <-chan dhcpReply, d time.Duration, ok func(dhcpReply) bool) (*dhcpReply, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, nil
		case r := <-ch:
			if ok(r) {
				return &r, nil
			}
		}
	}
}
