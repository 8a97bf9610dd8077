//go:build unix && !linux && !freebsd && !solaris

package dhcp

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// setSockopts on other Unixes (macOS, OpenBSD, NetBSD; untested): no way to
// tie the socket to ifi, so readLoop filters received packets by interface
// where the OS reports it and broadcasts leave by the routing table.
func setSockopts(fd uintptr, ifi *net.Interface) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		return fmt.Errorf("SO_BROADCAST: %w", err)
	}
	return nil
}

func broadcastAddr(*net.Interface) netip.Addr { return limitedBroadcast }
