//go:build unix && !linux && !solaris

package storm

import (
	"fmt"

	"golang.org/x/sys/unix"
)

const dhcpRcvBuf = 4 << 20

// clientSockopts on other Unixes (FreeBSD, macOS): no way to tie a socket to
// one interface, so broadcasts leave by the routing table; run the storm on a
// host (or jail) whose only broadcast route is the boot network.
func clientSockopts(fd uintptr, _ string) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		return fmt.Errorf("SO_BROADCAST: %w", err)
	}
	_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, dhcpRcvBuf)
	return nil
}
