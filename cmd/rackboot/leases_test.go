package main

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"rackboot/internal/lease"
	"rackboot/internal/store/boltstore"
)

// TestLeasesFromStore: with no server running, `rackboot leases` reads the
// store in the data directory.
func TestLeasesFromStore(t *testing.T) {
	dir := t.TempDir()
	st, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := netip.MustParsePrefix("10.0.0.0/24")
	m, err := lease.Open(context.Background(), st, lease.Config{Subnets: []lease.Subnet{{Prefix: p, LeaseTime: time.Hour,
		Pools: []lease.Range{{First: netip.MustParseAddr("10.0.0.100"), Last: netip.MustParseAddr("10.0.0.110")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := byte(1); i <= 2; i++ {
		c := lease.Client{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, i}, Hostname: "host" + string('0'+i)}
		if _, err := m.Ack(context.Background(), p, c, netip.AddrFrom4([4]byte{10, 0, 0, 100 + i})); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	st.Close()

	cmd := rootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs([]string{"leases", "--data-dir", dir, "--mac", "52:54:00:00:00:02"})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "10.0.0.102") || !strings.Contains(lines[1], "host2") ||
		!strings.Contains(lines[1], "bound") || !strings.Contains(lines[1], "in 59m") {
		t.Errorf("leases table:\n%s", out.String())
	}
	cmd.SetArgs([]string{"leases", "--data-dir", dir, "--state", "nope"})
	if err := cmd.ExecuteContext(context.Background()); err == nil || !strings.Contains(err.Error(), "state") {
		t.Errorf("bad --state: %v", err)
	}
}
