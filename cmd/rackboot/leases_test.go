package main

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"rackboot/internal/config"
	"rackboot/internal/dhcp"
	"rackboot/internal/lease"
	"rackboot/internal/metrics"
	"rackboot/internal/store/boltstore"
)

func TestFullDHCPConfig(t *testing.T) {
	c := config.Default()
	err := c.Decode(strings.NewReader(`
dhcp:
  mode: full
  lease_time: 2h
  dns: [10.0.0.53]
  domain: rack.test
  options: [{code: 66, text: tftp.rack.test}, {code: 150, ips: [10.0.0.1]}]
  subnets:
    - subnet: 10.0.0.0/24
      pools: [10.0.0.100-10.0.0.199]
      router: 10.0.0.254
      lease_time: 30m
      renew_time: 10m
      options: [{code: 150, ips: [10.0.0.2]}]
      reservations: [{mac: "52:54:00:00:00:01", ip: 10.0.0.10, hostname: cn1}]
    - subnet: 10.1.0.0/24
      pools: [10.1.0.0/25]
      dns: [10.1.0.53]
`))
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	self := netip.MustParseAddr("10.0.0.1")
	lc, nets, err := fullDHCPConfig(c.DHCP, []netip.Addr{self}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s0, s1 := lc.Subnets[0], lc.Subnets[1]
	if s0.LeaseTime != 30*time.Minute || s1.LeaseTime != 2*time.Hour {
		t.Errorf("lease times %v %v", s0.LeaseTime, s1.LeaseTime)
	}
	if s0.Pools[0] != (lease.Range{First: netip.MustParseAddr("10.0.0.100"), Last: netip.MustParseAddr("10.0.0.199")}) ||
		s1.Pools[0] != (lease.Range{First: netip.MustParseAddr("10.1.0.1"), Last: netip.MustParseAddr("10.1.0.126")}) {
		t.Errorf("pools %v %v", s0.Pools, s1.Pools)
	}
	if r := s0.Reservations[0]; r.IP != netip.MustParseAddr("10.0.0.10") || r.Hostname != "cn1" || r.MAC.String() != "52:54:00:00:00:01" {
		t.Errorf("reservation %+v", r)
	}
	if len(lc.Exclude) != 2 || lc.Exclude[0] != self || lc.Exclude[1] != netip.MustParseAddr("10.0.0.254") {
		t.Errorf("exclude %v: want ours and the router", lc.Exclude)
	}
	n0, n1 := nets[0], nets[1]
	if n0.Router != netip.MustParseAddr("10.0.0.254") || n0.T1 != 10*time.Minute || n0.Domain != "rack.test" ||
		n0.DNS[0] != netip.MustParseAddr("10.0.0.53") || !bytes.Equal(n0.Extra[150], []byte{10, 0, 0, 2}) || string(n0.Extra[66]) != "tftp.rack.test" {
		t.Errorf("first network %+v", n0)
	}
	if n1.DNS[0] != netip.MustParseAddr("10.1.0.53") || !bytes.Equal(n1.Extra[150], []byte{10, 0, 0, 1}) || n1.Router.IsValid() {
		t.Errorf("second network %+v", n1)
	}
	var _ dhcp.Network = n0
}

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

func TestRelTime(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		30 * time.Second: "in 30s", -3*time.Minute - 5*time.Second: "3m05s ago", 59*time.Minute + 50*time.Second: "in 59m50s",
		12 * time.Hour: "in 12h00m", 72 * time.Hour: "in 3d00h",
	} {
		if got := relTime(now.Add(d), now); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

// TestLeaseMetricsWiring: /metrics has the lease figures only once a lease
// manager runs (dhcp.mode full), and GET /api/v1/subnets lists its subnets.
func TestLeaseMetricsWiring(t *testing.T) {
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &services{store: st}
	scrape := func(mt *metrics.Metrics) string {
		rec := httptest.NewRecorder()
		mt.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	proxy := metrics.New("test", func() int { return 0 })
	s.leaseMetrics(proxy)
	if body := scrape(proxy); strings.Contains(body, "rackboot_dhcp_leases") || strings.Contains(body, "rackboot_lease_commits_total") {
		t.Errorf("lease metrics without a lease manager:\n%s", body)
	}
	if u := s.leases.usage(); len(u) != 0 {
		t.Errorf("subnets without a lease manager: %+v", u)
	}

	p := netip.MustParsePrefix("10.0.0.0/24")
	m, err := lease.Open(context.Background(), st, lease.Config{Subnets: []lease.Subnet{{Prefix: p, LeaseTime: time.Hour,
		Pools: []lease.Range{{First: netip.MustParseAddr("10.0.0.100"), Last: netip.MustParseAddr("10.0.0.110")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s.leases.m.Store(m)
	c := lease.Client{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}}
	if _, err := m.Ack(context.Background(), p, c, netip.MustParseAddr("10.0.0.101")); err != nil {
		t.Fatal(err)
	}
	full := metrics.New("test", func() int { return 0 })
	s.leaseMetrics(full)
	body := scrape(full)
	for _, want := range []string{
		`rackboot_dhcp_leases{state="bound",subnet="10.0.0.0/24"} 1`,
		`rackboot_dhcp_leases{state="offered",subnet="10.0.0.0/24"} 0`,
		`rackboot_dhcp_pool_addresses{subnet="10.0.0.0/24"} 11`,
		`rackboot_lease_commits_total 1`,
		`rackboot_lease_writes_total 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if u := s.leases.usage(); len(u) != 1 || u[0].Subnet != p || u[0].Leases[lease.Bound] != 1 {
		t.Errorf("subnets: %+v", u)
	}
}
