//go:build !linux

package dhcp

import (
	"log/slog"
	"net"
)

// growSocketBuffers asks for size-byte socket buffers; the OS caps them
// (kern.ipc.maxsockbuf on FreeBSD, udp_max_buf on illumos).
func growSocketBuffers(c *net.UDPConn, size int, log *slog.Logger) {
	if err := c.SetReadBuffer(size); err != nil {
		log.Debug("DHCP receive buffer", "bytes", size, "err", err)
	}
	if err := c.SetWriteBuffer(size); err != nil {
		log.Debug("DHCP send buffer", "bytes", size, "err", err)
	}
}
