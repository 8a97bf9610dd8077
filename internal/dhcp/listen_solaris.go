package dhcp

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// bindToInterface (illumos and Solaris): IP_BOUND_IF (ip(4P)) ties the
// socket to ifi for sending and receiving, illumos's counterpart of Linux's
// SO_BINDTODEVICE. readLoop also drops other interfaces' packets by the
// IP_PKTINFO control message.
func bindToInterface(fd uintptr, ifi *net.Interface) error {
	if err := unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BOUND_IF, ifi.Index); err != nil {
		return fmt.Errorf("IP_BOUND_IF %s: %w", ifi.Name, err)
	}
	return nil
}

// broadcastAddr: with IP_BOUND_IF, 255.255.255.255 leaves through ifi.
func broadcastAddr(*net.Interface) netip.Addr { return limitedBroadcast }
