package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"rackboot/internal/events"
)

func TestExposition(t *testing.T) {
	m := New("v1.2.3", func() int { return 2 })
	m.DHCP("DISCOVER", "answered")
	m.DHCP("DISCOVER", "answered")
	m.DHCP("", "malformed")
	m.TFTP("ok", 1000)
	m.TFTP("error", 10)
	m.HTTP("archive", 200, 5<<20)
	m.HTTP("menu", 200, 900)
	t0 := time.Now()
	m.BootEnded(events.Boot{Result: "booted kernel", Started: t0, Updated: t0.Add(20 * time.Second), Stages: []events.StageTime{
		{Stage: events.StageIPXEDHCP, DurationMS: 15000}, {Stage: events.StageMenu, DurationMS: 200},
		{Stage: events.StageArchive, DurationMS: 3000}, {Stage: events.StageBootedKernel},
	}})

	ts := httptest.NewServer(m.Handler())
	defer ts.Close()
	resp, err := ts.Client().Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		`rackboot_dhcp_packets_total{outcome="answered",type="DISCOVER"} 2`,
		`rackboot_dhcp_packets_total{outcome="malformed",type=""} 1`,
		`rackboot_tftp_transfers_total{result="error"} 1`,
		`rackboot_tftp_bytes_total 1010`,
		`rackboot_http_bytes_total{kind="archive"} 5.24288e+06`,
		`rackboot_http_requests_total{code="200",kind="menu"} 1`,
		`rackboot_boots_in_progress 2`,
		`rackboot_boots_total{result="booted kernel"} 1`,
		`rackboot_boot_stage_duration_seconds_bucket{stage="ipxe-dhcp",le="20"} 1`,
		`rackboot_boot_stage_duration_seconds_count{stage="archive"} 1`,
		`rackboot_boot_duration_seconds_sum 20`,
		`rackboot_build_info{goversion="go`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, `stage="booted-kernel"`) {
		t.Errorf("the derived booted-kernel stage should not be a histogram")
	}
}
