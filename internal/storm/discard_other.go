//go:build !linux

package storm

import "net"

// discardRead reads and drops up to n bytes from c: only Linux drops TCP
// data in the kernel (recv with MSG_TRUNC).
func discardRead(c net.Conn, n int64) (int64, error) { return readDiscard(c, n) }
