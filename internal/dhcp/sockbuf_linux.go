package dhcp

import (
	"log/slog"
	"net"

	"golang.org/x/sys/unix"
)

// growSocketBuffers sets c's receive and send buffers to size bytes. As
// root, SO_RCVBUFFORCE and SO_SNDBUFFORCE (socket(7)) go past
// net.core.rmem_max and wmem_max; without the privilege, the plain options
// give what those limits allow.
func growSocketBuffers(c *net.UDPConn, size int, log *slog.Logger) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size); err != nil {
			c.SetReadBuffer(size)
		}
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size); err != nil {
			c.SetWriteBuffer(size)
		}
	})
	log.Debug("DHCP socket buffers", "bytes", size)
}
