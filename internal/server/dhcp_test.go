package server

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
	"rackboot/internal/observe"
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

// TestLeaseMetricsWiring: /metrics has the lease figures only once a lease
// manager runs (dhcp.mode full), and GET /api/v1/subnets lists its subnets.
func TestLeaseMetricsWiring(t *testing.T) {
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &Server{store: st, timeline: observe.New(observe.Options{})}
	scrape := func(mt *metrics.Metrics) string {
		rec := httptest.NewRecorder()
		mt.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	s.leaseMetrics()
	if body := scrape(s.timeline.Metrics); strings.Contains(body, "rackboot_dhcp_leases") || strings.Contains(body, "rackboot_lease_commits_total") {
		t.Errorf("lease metrics without a lease manager:\n%s", body)
	}
	if u := s.leaseUsage(); len(u) != 0 {
		t.Errorf("subnets without a lease manager: %+v", u)
	}

	p := netip.MustParsePrefix("10.0.0.0/24")
	m, err := lease.Open(context.Background(), st, lease.Config{Subnets: []lease.Subnet{{Prefix: p, LeaseTime: time.Hour,
		Pools: []lease.Range{{First: netip.MustParseAddr("10.0.0.100"), Last: netip.MustParseAddr("10.0.0.110")}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s = &Server{store: st, timeline: observe.New(observe.Options{}), leases: m}
	c := lease.Client{MAC: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}}
	if _, err := m.Ack(context.Background(), p, c, netip.MustParseAddr("10.0.0.101")); err != nil {
		t.Fatal(err)
	}
	s.leaseMetrics()
	body := scrape(s.timeline.Metrics)
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
	if u := s.leaseUsage(); len(u) != 1 || u[0].Subnet != p || u[0].Leases[lease.Bound] != 1 {
		t.Errorf("subnets: %+v", u)
	}
}
