//go:build !unix

package dhcp

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
)

func setSockopts(uintptr, *net.Interface) error {
	return fmt.Errorf("the DHCP servers need Linux, FreeBSD or illumos, not %s", runtime.GOOS)
}

func broadcastAddr(*net.Interface) netip.Addr { return limitedBroadcast }
