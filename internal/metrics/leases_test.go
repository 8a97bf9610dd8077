package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	ts := httptest.NewServer(m.Handler())
	defer ts.Close()
	resp, err := ts.Client().Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %v\n%s", resp.StatusCode, err, b)
	}
	return string(b)
}

func TestLeaseMetrics(t *testing.T) {
	m := New("v1", func() int { return 0 })
	if body := scrape(t, m); strings.Contains(body, "rackboot_dhcp_leases") || strings.Contains(body, "rackboot_lease_") {
		t.Errorf("lease metrics before Leases (not full mode):\n%s", body)
	}

	figures := LeaseFigures{
		Subnets: []SubnetLeases{
			{Subnet: "10.0.0.0/24", PoolAddresses: 100, ByState: map[string]int{"bound": 12, "offered": 3, "declined": 1, "expired": 0},
				Exhausted: 7, OffersTaken: 5, OffersDropped: 2},
			{Subnet: "10.0.7.0/25", PoolAddresses: 126, ByState: map[string]int{"bound": 0, "released": 4}},
		},
		Commits: 40, Writes: 250, CommitSeconds: 0.5,
	}
	calls := 0
	m.Leases(func() LeaseFigures { calls++; return figures })
	body := scrape(t, m)
	for _, want := range []string{
		"# TYPE rackboot_dhcp_leases gauge",
		`rackboot_dhcp_leases{state="bound",subnet="10.0.0.0/24"} 12`,
		`rackboot_dhcp_leases{state="offered",subnet="10.0.0.0/24"} 3`,
		`rackboot_dhcp_leases{state="declined",subnet="10.0.0.0/24"} 1`,
		`rackboot_dhcp_leases{state="expired",subnet="10.0.0.0/24"} 0`,
		`rackboot_dhcp_leases{state="released",subnet="10.0.7.0/25"} 4`,
		"# TYPE rackboot_dhcp_pool_addresses gauge",
		`rackboot_dhcp_pool_addresses{subnet="10.0.0.0/24"} 100`,
		`rackboot_dhcp_pool_addresses{subnet="10.0.7.0/25"} 126`,
		"# TYPE rackboot_dhcp_pool_exhausted_total counter",
		`rackboot_dhcp_pool_exhausted_total{subnet="10.0.0.0/24"} 7`,
		`rackboot_dhcp_pool_exhausted_total{subnet="10.0.7.0/25"} 0`,
		`rackboot_dhcp_offers_taken_total{subnet="10.0.0.0/24"} 5`,
		`rackboot_dhcp_offers_dropped_total{subnet="10.0.0.0/24"} 2`,
		"# TYPE rackboot_lease_commits_total counter",
		"rackboot_lease_commits_total 40",
		"# TYPE rackboot_lease_writes_total counter",
		"rackboot_lease_writes_total 250",
		"# TYPE rackboot_lease_commit_seconds_total counter",
		"rackboot_lease_commit_seconds_total 0.5",
	} {
		if !strings.Contains(body, want+"\n") { // whole lines: 12 is not 120
			t.Errorf("/metrics lacks the line %q", want)
		}
	}
	if !strings.Contains(body, "rackboot_build_info{") {
		t.Errorf("the other metrics are gone:\n%s", body)
	}
	if calls != 1 {
		t.Errorf("figures read %d times in one scrape, want 1", calls)
	}

	// Read afresh at each scrape.
	figures.Subnets[0].ByState["bound"] = 13
	figures.Commits = 41
	body = scrape(t, m)
	for _, want := range []string{`rackboot_dhcp_leases{state="bound",subnet="10.0.0.0/24"} 13` + "\n", "rackboot_lease_commits_total 41\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("second scrape lacks %q", want)
		}
	}
}
