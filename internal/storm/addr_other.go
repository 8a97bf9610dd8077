//go:build !linux

package storm

import (
	"fmt"
	"net/netip"
	"runtime"
)

// addrManager: putting leased addresses on an interface is done for Linux
// only; elsewhere run with AddrsInterface (every machine uses the
// interface's own address).
type addrManager struct{}

func newAddrManager(string) (*addrManager, error) {
	return nil, fmt.Errorf("adding the leased addresses to the interface is implemented for Linux, not %s: "+
		"use --addresses interface", runtime.GOOS)
}

func (*addrManager) add(netip.Addr, int) error { return nil }
func (*addrManager) close() error              { return nil }
