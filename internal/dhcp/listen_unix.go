//go:build unix && !linux && !freebsd && !solaris

package dhcp

import (
	"net"
	"net/netip"
)

// bindToInterface on other Unixes (macOS, OpenBSD, NetBSD; untested): no
// way to tie the socket to ifi, so readLoop filters received packets by
// interface where the OS reports it and broadcasts leave by the routing
// table.
func bindToInterface(uintptr, *net.Interface) error { return nil }

func broadcastAddr(*net.Interface) netip.Addr { return limitedBroadcast }
