package dhcp

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// bindToInterface: FreeBSD has no SO_BINDTODEVICE: the socket hears every
// interface and readLoop drops other interfaces' packets by the IP_RECVIF
// control message. To send a broadcast out of ifi, IP_ONESBCAST (ip(4))
// turns a datagram sent to ifi's subnet-directed broadcast address into one
// to 255.255.255.255 on ifi, which is what clients without an address
// accept.
func bindToInterface(fd uintptr, ifi *net.Interface) error {
	if err := unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_ONESBCAST, 1); err != nil {
		return fmt.Errorf("IP_ONESBCAST: %w", err)
	}
	return nil
}

// broadcastAddr is ifi's subnet-directed broadcast (see IP_ONESBCAST above),
// or 255.255.255.255 when serving every interface or ifi has no IPv4 subnet.
func broadcastAddr(ifi *net.Interface) netip.Addr {
	if ifi == nil {
		return limitedBroadcast
	}
	prefixes, err := interfacePrefixes(ifi)
	if err != nil {
		return limitedBroadcast
	}
	for _, p := range prefixes {
		if p.Bits() > 0 && p.Bits() < 31 {
			return directedBroadcast(p)
		}
	}
	return limitedBroadcast
}
