package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// listenUDP opens a UDP socket on 0.0.0.0:port that can receive and send
// broadcasts, tied to ifi when ifi is not nil (see setSockopts in
// listen_<os>.go for how each OS does that).
func listenUDP(ctx context.Context, ifi *net.Interface, port int) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(network, address string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = setSockopts(fd, ifi) }); err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(ctx, "udp4", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

func lookupInterface(name string) (*net.Interface, error) {
	if name == "" {
		return nil, nil
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("DHCP: interface %q: %w (see `ip link` for the names on this host)", name, err)
	}
	return ifi, nil
}

func ifName(ifi *net.Interface) string {
	if ifi == nil {
		return "all interfaces"
	}
	return ifi.Name
}

func isAddrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE)
}

// InterfaceIPv4 returns the first IPv4 address of the named interface: a
// default for ProxyServer.ServerIP.
func InterfaceIPv4(name string) (netip.Addr, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("interface %q: %w", name, err)
	}
	prefixes, err := interfacePrefixes(ifi)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(prefixes) == 0 {
		return netip.Addr{}, fmt.Errorf("interface %q has no IPv4 address: give it one, or set the server IP", name)
	}
	return prefixes[0].Addr(), nil
}

// interfacePrefixes lists ifi's IPv4 addresses with their prefix lengths.
func interfacePrefixes(ifi *net.Interface) ([]netip.Prefix, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, fmt.Errorf("addresses of %s: %w", ifi.Name, err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP.To4())
		if !ok {
			continue
		}
		ones, bits := ipn.Mask.Size()
		if bits == 8*net.IPv6len {
			ones -= 96
		}
		out = append(out, netip.PrefixFrom(ip, ones))
	}
	return out, nil
}

// limitedBroadcast is 255.255.255.255 (RFC 919).
var limitedBroadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// directedBroadcast is the all-ones host address of p (RFC 919).
func directedBroadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(a)
}
