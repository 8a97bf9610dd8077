package storm

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// dhcpRcvBuf is the receive buffer asked for the shared DHCP socket: a storm
// of N machines brings up to 2N broadcast offers at once (the DHCP server's
// and the proxy's), and a drop here would be the simulator's fault, not the
// server's.
const dhcpRcvBuf = 8 << 20

// clientSockopts: SO_BROADCAST to send DISCOVERs to 255.255.255.255,
// SO_BINDTODEVICE so that they leave through ifname and only its replies come
// back (socket(7)), SO_REUSEADDR so that another listener on 68 that also sets
// it does not stop us, and a large receive buffer (SO_RCVBUFFORCE needs
// CAP_NET_ADMIN; without it SO_RCVBUF, capped by net.core.rmem_max).
func clientSockopts(fd uintptr, ifname string) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		return fmt.Errorf("SO_BROADCAST: %w", err)
	}
	if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, dhcpRcvBuf) != nil {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, dhcpRcvBuf)
	}
	if ifname != "" {
		if err := unix.BindToDevice(int(fd), ifname); err != nil {
			return fmt.Errorf("SO_BINDTODEVICE %s: %w", ifname, err)
		}
	}
	return nil
}
