package dhcp

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// bindToInterface: SO_BINDTODEVICE, so that we see only ifi's packets and
// our broadcasts leave through ifi (socket(7); needs CAP_NET_RAW, which a
// server on port 67 has as root).
func bindToInterface(fd uintptr, ifi *net.Interface) error {
	if err := unix.BindToDevice(int(fd), ifi.Name); err != nil {
		return fmt.Errorf("SO_BINDTODEVICE %s: %w", ifi.Name, err)
	}
	return nil
}

// broadcastAddr: with SO_BINDTODEVICE, 255.255.255.255 leaves through ifi.
func broadcastAddr(*net.Interface) netip.Addr { return limitedBroadcast }
