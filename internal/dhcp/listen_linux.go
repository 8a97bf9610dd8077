package dhcp

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// setSockopts: SO_REUSEADDR so that a DHCP server which also sets it can
// share port 67, SO_BROADCAST to send to 255.255.255.255, and SO_BINDTODEVICE
// so that we see only ifi's packets and our broadcasts leave through ifi
// (socket(7); needs CAP_NET_RAW, which a server on port 67 has as root).
func setSockopts(fd uintptr, ifi *net.Interface) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		return fmt.Errorf("SO_BROADCAST: %w", err)
	}
	if ifi != nil {
		if err := unix.BindToDevice(int(fd), ifi.Name); err != nil {
			return fmt.Errorf("SO_BINDTODEVICE %s: %w", ifi.Name, err)
		}
	}
	return nil
}

// broadcastAddr: with SO_BINDTODEVICE, 255.255.255.255 leaves through ifi.
func broadcastAddr(*net.Interface) netip.Addr { return limitedBroadcast }
