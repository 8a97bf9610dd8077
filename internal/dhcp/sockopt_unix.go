//go:build unix

package dhcp

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// setSockopts sets SO_REUSEADDR, so that a DHCP server which also sets it
// can share port 67, and SO_BROADCAST, to send to 255.255.255.255
// (socket(7)); then ties the socket to ifi, when not nil, as each OS can
// (bindToInterface in listen_<os>.go).
func setSockopts(fd uintptr, ifi *net.Interface) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		return fmt.Errorf("SO_BROADCAST: %w", err)
	}
	if ifi == nil {
		return nil
	}
	return bindToInterface(fd, ifi)
}
