package storm

import (
	"net/netip"
	"testing"
	"time"

	"rackboot/internal/dhcp4"
)

// TestDiscoverDone: iPXE leaves discovery with an address and boot
// information at once, and with an address alone only once its ProxyDHCP
// patience (2 s) is spent; a PXE ROM (no patience limit) waits for boot
// information.
func TestDiscoverDone(t *testing.T) {
	addr := &offer{p: &dhcp4.Packet{YIAddr: netip.MustParseAddr("10.0.0.100"), Options: dhcp4.Options{}}}
	withFile := &offer{p: &dhcp4.Packet{YIAddr: netip.MustParseAddr("10.0.0.100"), File: "undionly.kpxe", Options: dhcp4.Options{}}}
	proxy := &offer{p: &dhcp4.Packet{Options: dhcp4.Options{dhcp4.OptVendorClass: []byte("PXEClient")}}}
	wait := DefaultIPXEProxyWait
	for _, tt := range []struct {
		name              string
		addr, proxy       *offer
		elapsed, patience time.Duration
		want              bool
	}{
		{"no address", nil, proxy, 5 * time.Second, wait, false},
		{"address and proxy offer", addr, proxy, 0, wait, true},
		{"address with a boot file", withFile, nil, 0, wait, true},
		{"iPXE: address alone, at the 1 s timer", addr, nil, time.Second, wait, false},
		{"iPXE: address alone, at the 3 s timer", addr, nil, 3 * time.Second, wait, true},
		{"iPXE: address alone, exactly 2 s", addr, nil, wait, wait, false},
		{"ROM: address alone, still waiting at 30 s", addr, nil, 30 * time.Second, 0, false},
	} {
		if got := discoverDone(tt.addr, tt.proxy, tt.elapsed, tt.patience); got != tt.want {
			t.Errorf("%s: discoverDone = %v, want %v", tt.name, got, tt.want)
		}
	}
}
