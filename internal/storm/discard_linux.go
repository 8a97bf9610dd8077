package storm

import (
	"io"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// truncBuf is what recv(MSG_TRUNC) is given: on a TCP socket Linux drops
// the bytes without writing to it (tcp(7)), so one buffer serves every
// connection. Its length caps the bytes dropped per call.
var truncBuf = make([]byte, 4<<20)

// discardRead drops up to n bytes that arrive on c without copying them
// (recv with MSG_TRUNC), waiting for them like a read; it returns how many
// it dropped. It falls back to reading when c is not a TCP socket.
func discardRead(c net.Conn, n int64) (int64, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return readDiscard(c, n)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		got, _, rerr = unix.Recvfrom(int(fd), truncBuf[:min(n, int64(len(truncBuf)))], unix.MSG_TRUNC|unix.MSG_DONTWAIT)
		return rerr != unix.EAGAIN
	})
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, rerr
	case got == 0:
		return 0, io.ErrUnexpectedEOF
	}
	return int64(got), nil
}
