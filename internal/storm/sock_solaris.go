package storm

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

const dhcpRcvBuf = 4 << 20

// clientSockopts (illumos): SO_BROADCAST, SO_REUSEADDR, a large receive
// buffer, and IP_BOUND_IF (ip(4P)) to tie the socket to ifname.
func clientSockopts(fd uintptr, ifname string) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		return fmt.Errorf("SO_BROADCAST: %w", err)
	}
	_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, dhcpRcvBuf)
	if ifname != "" {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		if err := unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BOUND_IF, ifi.Index); err != nil {
			return fmt.Errorf("IP_BOUND_IF %s: %w", ifname, err)
		}
	}
	return nil
}
