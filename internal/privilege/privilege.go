// Package privilege says what `rackboot serve` needs from the operating
// system, and how to give it just that instead of running it as root.
//
// It needs to bind UDP 67, 69 and 4011 and TCP 80 (below 1024), and raw
// ICMPv6 and ICMP sockets for the router advertisement responder
// (ipv6.ra: auto) and full DHCP mode's ping check. Nothing else: on Linux
// SO_BINDTODEVICE on a socket not yet bound to a device needs no
// privilege since 5.7, and the DHCP socket buffers fall back from
// SO_RCVBUFFORCE (CAP_NET_ADMIN) to the plain size.
package privilege

import (
	"os"
	"runtime"
)

// Linux capabilities serve needs, as systemd and setpriv name them.
const (
	CapBindService = "CAP_NET_BIND_SERVICE" // ports 67, 69, 80, 4011
	CapRaw         = "CAP_NET_RAW"          // RA responder, ping check
)

// IsRoot reports whether this process runs as root.
func IsRoot() bool { return os.Geteuid() == 0 }

// RootAdvice says, for this operating system, how to run serve without
// root.
func RootAdvice() string { return advice(runtime.GOOS) }

func advice(goos string) string {
	switch goos {
	case "linux":
		return "rackboot runs as root, which it does not need: it needs only " + CapBindService +
			" (ports 67, 69, 80, 4011) and " + CapRaw + " (IPv6 router advertisements, full DHCP's ping check). " +
			"The Debian package's unit runs it as user rackboot with just those (systemctl start rackboot); by hand: " +
			"setpriv --reuid=rackboot --regid=rackboot --init-groups --inh-caps=+net_bind_service,+net_raw " +
			"--ambient-caps=+net_bind_service,+net_raw rackboot serve ..."
	case "illumos", "solaris":
		return "rackboot runs as root, which it does not need: it needs only the privileges " +
			"basic,net_privaddr,net_icmpaccess (raw ICMPv6 and ICMP sockets). The SMF manifest (packaging/smf) runs it as user rackboot with just those"
	case "freebsd":
		return "rackboot runs as root: it needs to bind ports 67, 69, 80 and 4011, which mac_portacl(4) can allow " +
			"user rackboot (security.mac.portacl.rules), and raw ICMPv6 sockets for ipv6.ra: auto, which need root " +
			"on FreeBSD (set ipv6.ra: off to run without it). See rackboot_user in the rc.d script (packaging/freebsd)"
	}
	return "rackboot runs as root: it needs only to bind ports 67, 69, 80 and 4011 and to open raw ICMP sockets"
}
