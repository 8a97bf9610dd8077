//go:build linux

package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// dhclientScript replaces dhclient-script: it logs what the client was told
// (%[1]s) and sets the address on the interface, nothing else (no
// resolv.conf, no routes: ip netns exec shares the host's /etc).
const dhclientScript = `#!/bin/sh
echo "$reason ip=$new_ip_address mask=$new_subnet_mask lease=$new_dhcp_lease_time server=$new_dhcp_server_identifier" >> %[1]s
case "$reason" in
BOUND|RENEW|REBIND|REBOOT)
	if [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ]; then
		ip addr del "$old_ip_address/$old_subnet_mask" dev "$interface" 2>/dev/null
	fi
	ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface"
	;;
EXPIRE|FAIL|RELEASE|STOP)
	[ -n "$old_ip_address" ] && ip addr del "$old_ip_address/$old_subnet_mask" dev "$interface" 2>/dev/null
	;;
esac
exit 0
`

// Dhclient is ISC dhclient running in the foreground (-d) on a host's
// interface, stopped at cleanup like every lab process. Its lease, pid and
// script files live in a temporary directory (an AppArmor profile for
// dhclient, where there is one, allows /tmp); what the script was told is
// in ScriptLog.
type Dhclient struct {
	*Process
	Host      *Host
	MAC       net.HardwareAddr
	ScriptLog string
}

// StartDhclient runs dhclient on h's eth0 (from AddDHCPClientHost). Its
// DHCP packets leave only by that interface, into the lab's bridge.
func StartDhclient(t testing.TB, lab *Lab, h *Host) *Dhclient {
	t.Helper()
	RequireCommands(t, "dhclient")
	dir := t.TempDir()
	d := &Dhclient{Host: h, ScriptLog: filepath.Join(dir, "dhclient-script.log")}
	script := filepath.Join(dir, "dhclient-script")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(dhclientScript, d.ScriptLog)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := h.NS.do(func() error {
		ifi, err := net.InterfaceByName(h.Iface)
		if err == nil {
			d.MAC = ifi.HardwareAddr
		}
		return err
	}); err != nil {
		t.Fatalf("dhclient host %s: %v", h.Name, err)
	}
	d.Process = lab.Start(t, h.NS, "dhclient-"+h.Name, "dhclient", "-4", "-d", "-v",
		"-lf", filepath.Join(dir, "dhclient.leases"), "-pf", filepath.Join(dir, "dhclient.pid"),
		"-sf", script, h.Iface)
	lab.AddLog("dhclient-script "+h.Name, d.ScriptLog, false)
	return d
}

var boundLine = regexp.MustCompile(`(?m)^(?:BOUND|RENEW|REBIND|REBOOT) ip=(\S+)`)

// Bound returns the address dhclient last bound, from its script's log.
func (d *Dhclient) Bound() (netip.Addr, bool) {
	b, _ := os.ReadFile(d.ScriptLog)
	m := boundLine.FindAllSubmatch(b, -1)
	if len(m) == 0 {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(string(m[len(m)-1][1]))
	return ip, err == nil
}
