package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/dhcp4"
	"rackboot/internal/lease"
	"rackboot/internal/pxe"
)

// relayLinkSelection is option 82's link selection sub-option (RFC 3527).
const relayLinkSelection = 5

// handle decides the answer to one request on port 67. It may wait for the
// store (RELEASE, DECLINE) or a ping (DISCOVER). A REQUEST waits for its
// lease to be durable, unless later is not nil: then handle returns at once
// with pending set, and later gets the answer once the store has committed
// (on the lease manager's committer goroutine).
func (s *FullServer) handle(ctx context.Context, req *dhcp4.Packet, src netip.AddrPort, bcast netip.Addr, later func(reply)) (r reply, pending bool) {
	mt := req.MessageType()
	pr := RequestFrom(req)
	cl := pxe.Classify(pr)
	r = reply{ev: Event{Time: time.Now(), Port: dhcp4.PortServer, From: src, Type: mt.String(),
		MAC: cl.MAC, Arch: cl.Arch, IPXE: cl.IPXE, Features: cl.Features, ClientIP: ClientAddr(req), UUID: cl.UUID, VendorClass: pr.VendorClass}}
	if cl.NetBoot() && (mt == dhcp4.Discover || mt == dhcp4.Request) {
		s.Sightings.Record(r.ev.ClientIP, boot.Sighting{MAC: cl.MAC, Arch: cl.Arch, IPXE: cl.IPXE, Features: cl.Features})
	}
	if len(req.CHAddr) == 0 {
		return r.ignore("no client hardware address"), false
	}
	c := lease.Client{MAC: req.CHAddr, ClientID: req.Options.Get(dhcp4.OptClientID),
		Hostname: string(req.Options.Get(dhcp4.OptHostname))}
	if relayed(req) {
		c.Relay = req.GIAddr
	}
	link := s.link(req)
	sub, ok := s.Leases.SubnetFor(link)
	if !ok {
		return r.ignore(fmt.Sprintf("no subnet configured for the client's network (link address %v)", link)), false
	}
	switch mt {
	case dhcp4.Discover:
		return s.discover(ctx, req, r, c, sub, cl, bcast), false
	case dhcp4.Request:
		return s.request(ctx, req, r, c, sub, cl, bcast, later)
	case dhcp4.Release:
		return s.release(ctx, req, r, c), false
	case dhcp4.Decline:
		return s.decline(ctx, req, r, c), false
	case dhcp4.Inform:
		return s.inform(req, r, sub, cl, bcast), false
	}
	return r.ignore(fmt.Sprintf("a DHCP server does not answer %s", mt)), false
}

func (r reply) ignore(reason string) reply {
	r.ev.Outcome, r.ev.Reason = Ignored, reason
	return r
}

// link is the address that says which subnet the client is on (RFC 2131
// §4.3.1): the subnet selection option (RFC 3011) or the relay's link
// selection sub-option (RFC 3527) when present, else the relay's giaddr,
// else, for a renewing client that unicasts to us past its relay, its own
// ciaddr, else our own address on the link the request arrived on.
func (s *FullServer) link(req *dhcp4.Packet) netip.Addr {
	if v := req.Options.Get(dhcp4.OptSubnetSelection); len(v) == 4 {
		return netip.AddrFrom4([4]byte(v))
	}
	if v := relaySubOption(req.Options.Get(dhcp4.OptRelayAgentInfo), relayLinkSelection); len(v) == 4 {
		return netip.AddrFrom4([4]byte(v))
	}
	if relayed(req) {
		return req.GIAddr
	}
	if req.CIAddr.Is4() && !req.CIAddr.IsUnspecified() {
		if _, ok := s.Leases.SubnetFor(req.CIAddr); ok {
			return req.CIAddr
		}
	}
	if _, ok := s.Leases.SubnetFor(s.ServerIP); ok {
		return s.ServerIP
	}
	for _, a := range s.local {
		if _, ok := s.Leases.SubnetFor(a); ok {
			return a
		}
	}
	return s.ServerIP
}

func relayed(req *dhcp4.Packet) bool { return req.GIAddr.Is4() && !req.GIAddr.IsUnspecified() }

// relaySubOption finds a sub-option of option 82 (RFC 3046 §2.0).
func relaySubOption(v []byte, code byte) []byte {
	for i := 0; i+1 < len(v); {
		n := int(v[i+1])
		if i+2+n > len(v) {
			return nil
		}
		if v[i] == code {
			return v[i+2 : i+2+n]
		}
		i += 2 + n
	}
	return nil
}

// discover answers DHCPDISCOVER with an OFFER (RFC 2131 §4.3.1).
func (s *FullServer) discover(ctx context.Context, req *dhcp4.Packet, r reply, c lease.Client, sub lease.Subnet, cl pxe.Client, bcast netip.Addr) reply {
	o, err := s.Leases.Offer(sub.Prefix, c, req.RequestedIP())
	// RFC 2131 §4.4.1 allows a server to check with ICMP echo that a new
	// address is unused before offering it (ISC dhcpd's ping-check). A
	// reply means a host squats on it: quarantine it and try another.
	for try := 0; err == nil && o.New && s.ping != nil && try < 3; try++ {
		pctx, cancel := context.WithTimeout(ctx, s.PingTimeout)
		inUse := s.ping.Ping(pctx, o.IP)
		cancel()
		if !inUse {
			break
		}
		s.counts.conflicts.Add(1)
		s.logger().Warn("DHCP ping check: address answers ping, quarantined", "ip", o.IP, "subnet", sub.Prefix)
		if err = s.Leases.Conflict(ctx, o.IP); err == nil {
			o, err = s.Leases.Offer(sub.Prefix, c, netip.Addr{})
		}
	}
	if err != nil {
		if errors.Is(err, lease.ErrPoolExhausted) {
			s.poolExhausted(sub.Prefix, c.MAC.String(), time.Now())
		}
		return r.ignore("no offer: " + err.Error())
	}
	s.counts.offers.Add(1)
	return s.answer(req, r, dhcp4.Offer, &o.Lease, sub, cl, bcast)
}

// request answers DHCPREQUEST in each client state (RFC 2131 §4.3.2); see
// handle for later and pending.
func (s *FullServer) request(ctx context.Context, req *dhcp4.Packet, r reply, c lease.Client, sub lease.Subnet, cl pxe.Client, bcast netip.Addr, later func(reply)) (reply, bool) {
	sid, want := req.ServerID(), req.RequestedIP()
	var ip netip.Addr
	state := ""
	switch {
	case sid.IsValid() && sid != s.ServerIP:
		// SELECTING another server's offer: ours lapses by itself.
		return r.ignore(fmt.Sprintf("client chose the DHCP server at %v", sid)), false
	case sid.IsValid():
		state, ip = "selecting", want
	case want.IsValid():
		state, ip = "init-reboot", want
	case req.CIAddr.Is4() && !req.CIAddr.IsUnspecified():
		state, ip = "renewing", req.CIAddr // or rebinding: the same for us
	}
	if !ip.IsValid() {
		return r.ignore("DHCPREQUEST names no address (no option 50, no ciaddr)"), false
	}
	r.ev.ClientIP = ip
	acked := func(l lease.Lease, err error) reply {
		return s.acked(req, r, c, sub, cl, bcast, state, ip, l, err)
	}
	if later == nil {
		l, err := s.Leases.Ack(ctx, sub.Prefix, c, ip)
		return acked(l, err), false
	}
	if err := s.Leases.AckAsync(sub.Prefix, c, ip, func(l lease.Lease, err error) { later(acked(l, err)) }); err != nil {
		return acked(lease.Lease{}, err), false
	}
	return reply{}, true
}

// acked turns the lease manager's answer to a REQUEST into ours.
func (s *FullServer) acked(req *dhcp4.Packet, r reply, c lease.Client, sub lease.Subnet, cl pxe.Client, bcast netip.Addr,
	state string, ip netip.Addr, l lease.Lease, err error) reply {
	switch {
	case err == nil:
		s.counts.acks.Add(1)
		return s.answer(req, r, dhcp4.Ack, &l, sub, cl, bcast)
	case errors.Is(err, lease.ErrWrongSubnet) && state == "renewing":
		// RENEWING or REBINDING with an address of a network we do not
		// serve: another server's client; stay silent.
		return r.ignore(err.Error())
	case errors.Is(err, lease.ErrNotAvailable), errors.Is(err, lease.ErrWrongSubnet):
		// RFC 2131 §4.3.2: NAK a client whose notion of its address is
		// wrong, so that it starts over with DISCOVER.
		s.counts.naks.Add(1)
		r.ev.Reason = err.Error()
		return s.nak(req, r, state+": "+err.Error(), bcast)
	default:
		// The store failed, or we are shutting down: no ACK (the lease is
		// not durable) and no NAK (the client did nothing wrong); it will
		// retransmit.
		s.logger().Error("DHCP REQUEST not answered: lease not stored", "mac", c.MAC.String(), "ip", ip, "err", err)
		return r.ignore("lease not stored: " + err.Error())
	}
}

// release handles DHCPRELEASE (RFC 2131 §4.3.4): no reply.
func (s *FullServer) release(ctx context.Context, req *dhcp4.Packet, r reply, c lease.Client) reply {
	r.ev.ClientIP = req.CIAddr
	if err := s.Leases.Release(ctx, c, req.CIAddr); err != nil {
		return r.ignore(err.Error())
	}
	s.counts.releases.Add(1)
	r.ev.Outcome, r.ev.Reason = Handled, "released"
	return r
}

// decline handles DHCPDECLINE (RFC 2131 §4.3.3): the client found its
// address in use; quarantine it. No reply.
func (s *FullServer) decline(ctx context.Context, req *dhcp4.Packet, r reply, c lease.Client) reply {
	ip := req.RequestedIP()
	r.ev.ClientIP = ip
	if err := s.Leases.Decline(ctx, c, ip); err != nil {
		return r.ignore(err.Error())
	}
	s.counts.declines.Add(1)
	s.logger().Warn("DHCP DECLINE: a client found its address in use, quarantined", "ip", ip,
		"mac", c.MAC.String(), "message", string(req.Options.Get(dhcp4.OptMessage)))
	r.ev.Outcome, r.ev.Reason = Handled, "declined: quarantined"
	return r
}

// inform answers DHCPINFORM (RFC 2131 §4.3.5): configuration, no lease.
func (s *FullServer) inform(req *dhcp4.Packet, r reply, sub lease.Subnet, cl pxe.Client, bcast netip.Addr) reply {
	if !req.CIAddr.Is4() || req.CIAddr.IsUnspecified() {
		return r.ignore("DHCPINFORM without ciaddr")
	}
	s.counts.informs.Add(1)
	return s.answer(req, r, dhcp4.Ack, nil, sub, cl, bcast)
}
