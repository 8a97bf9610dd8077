//go:build linux || freebsd || illumos

package ra

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// sock is a raw ICMPv6 socket that takes part in NDP on one interface.
type sock struct {
	raw *icmp.PacketConn
	p   *ipv6.PacketConn
	ifi *net.Interface

	mu    sync.Mutex
	src   netip.Addr // the interface's link-local address
	local map[netip.Addr]bool
}

// refresh reads the interface's addresses: its own (to ignore what it
// sends) and its link-local one (the source of what it sends).
func (s *sock) refresh() {
	local := make(map[netip.Addr]bool)
	var src netip.Addr
	if ifi, err := net.InterfaceByIndex(s.ifi.Index); err == nil {
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			local[ip.Unmap()] = true
			if ip.Is6() && ip.IsLinkLocalUnicast() && !src.IsValid() {
				src = ip
			}
		}
	}
	s.mu.Lock()
	had := s.src.IsValid()
	s.src, s.local = src, local
	s.mu.Unlock()
	if !had && src.IsValid() && s.p != nil {
		// IPv6 came up on the link after we joined all-routers: join
		// again, or solicitations may never reach us.
		grp := &net.IPAddr{IP: net.IP(allRouters.AsSlice())}
		s.p.LeaveGroup(s.ifi, grp)
		s.p.JoinGroup(s.ifi, grp)
	}
}

func listen(name string) (*sock, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	s := &sock{ifi: ifi}
	// The link-local address may come later (a link without carrier has
	// none yet, and it is tentative during duplicate address detection):
	// write looks it up again when it has none.
	s.refresh()
	raw, err := icmp.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, fmt.Errorf("raw ICMPv6 socket: %w (needs root or CAP_NET_RAW)", err)
	}
	s.raw, s.p = raw, raw.IPv6PacketConn()
	fail := func(what string, err error) (*sock, error) {
		raw.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	f.Accept(ipv6.ICMPTypeRouterAdvertisement)
	if err := s.p.SetICMPFilter(&f); err != nil {
		return fail("ICMPv6 filter", err)
	}
	if err := s.p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagInterface|ipv6.FlagDst, true); err != nil {
		return fail("control messages", err)
	}
	// RFC 4861 §4.2, §6.1.2: NDP messages go with hop limit 255, and a
	// receiver drops any that arrive with less.
	if err := s.p.SetHopLimit(255); err != nil {
		return fail("hop limit", err)
	}
	if err := s.p.SetMulticastHopLimit(255); err != nil {
		return fail("multicast hop limit", err)
	}
	if err := s.p.SetMulticastInterface(ifi); err != nil {
		return fail("multicast interface", err)
	}
	if err := s.p.SetMulticastLoopback(false); err != nil {
		return fail("multicast loopback", err)
	}
	// Solicitations go to all-routers, which a host has not joined.
	if err := s.p.JoinGroup(ifi, &net.IPAddr{IP: net.IP(allRouters.AsSlice())}); err != nil {
		return fail("join ff02::2", err)
	}
	return s, nil
}

func (s *sock) read(b []byte) (int, netip.Addr, int, bool, error) {
	s.mu.Lock()
	waiting := !s.src.IsValid()
	s.mu.Unlock()
	if waiting {
		// No IPv6 on the link yet: look again every few seconds.
		s.p.SetReadDeadline(time.Now().Add(3 * time.Second))
	} else {
		s.p.SetReadDeadline(time.Time{})
	}
	n, cm, src, err := s.p.ReadFrom(b)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() && waiting {
			s.refresh()
			return 0, netip.Addr{}, 0, false, nil
		}
		return 0, netip.Addr{}, 0, false, err
	}
	if cm == nil || cm.IfIndex != s.ifi.Index {
		return n, netip.Addr{}, 0, false, nil // another interface's
	}
	ipa, ok := src.(*net.IPAddr)
	if !ok {
		return n, netip.Addr{}, 0, false, nil
	}
	ip, _ := netip.AddrFromSlice(ipa.IP)
	return n, ip.Unmap(), cm.HopLimit, true, nil
}

func (s *sock) write(b []byte, dst netip.Addr) error {
	s.mu.Lock()
	src := s.src
	s.mu.Unlock()
	if !src.IsValid() {
		s.refresh()
		s.mu.Lock()
		src = s.src
		s.mu.Unlock()
		if !src.IsValid() {
			return errors.New("no IPv6 link-local address on " + s.ifi.Name + " (is IPv6 disabled on it?)")
		}
	}
	cm := &ipv6.ControlMessage{HopLimit: 255, Src: net.IP(src.AsSlice()), IfIndex: s.ifi.Index}
	_, err := s.p.WriteTo(b, cm, &net.IPAddr{IP: net.IP(dst.AsSlice()), Zone: s.ifi.Name})
	if err != nil {
		s.refresh() // the address may have changed, or was tentative
	}
	return err
}

func (s *sock) mac() net.HardwareAddr { return s.ifi.HardwareAddr }
func (s *sock) isLocal(a netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.local[a.WithZone("")]
}
func (s *sock) Close() error { return s.raw.Close() }
