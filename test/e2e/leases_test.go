package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"rackboot/test/e2e"
)

// TestDashboardShowsLease: rackboot is the lab network's DHCP server
// (dhcp.mode full); ISC dhclient on another host of the lab gets an address
// from it; the dashboard, loaded in headless Chromium, shows that lease
// (address, MAC, bound) in its Leases section under the subnet's usage, and
// /api/v1/subnets and /metrics count it. Screenshot: dashboard-leases.png.
// Every DHCP packet stays on the lab's bridge: rackboot serves br0 inside
// the server namespace, dhclient runs on the client namespace's eth0.
func TestDashboardShowsLease(t *testing.T) {
	if testing.Short() {
		t.Skip("runs rackboot, dhclient and Chromium; skipped with -short")
	}
	e2e.RequireRoot(t)
	e2e.RequireCommands(t, "ip", "dhclient")
	e2e.RequireFiles(t, e2e.Chromium)
	bin := needRackboot(t)
	ctx := testContext(t, 3*time.Minute)
	l := e2e.NewLab(t)
	data := filepath.Join(l.Out, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := e2e.RackbootConfig{MenuTitle: "rackboot e2e", Console: "text", LeaseTime: time.Hour,
		DHCPSubnets: []e2e.DHCPSubnet{{Subnet: l.Subnet, Pool: fmt.Sprintf("%s-%s", l.Addr(100), l.Addr(199))}}}
	rb := e2e.StartRackboot(ctx, t, l, e2e.RackbootOptions{Binary: bin, DHCPMode: "full", DataDir: data, Config: cfg})

	client := e2e.StartDhclient(t, l, l.AddDHCPClientHost(t, "client"))
	mac := client.MAC.String()
	type apiLease struct {
		IP    netip.Addr `json:"ip"`
		MAC   string     `json:"mac"`
		State string     `json:"state"`
	}
	var got apiLease
	var bound netip.Addr
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := e2e.WaitUntil(wctx, func() bool {
		var ok bool
		if bound, ok = client.Bound(); !ok {
			return false
		}
		code, body, err := rb.Get(wctx, "/api/v1/leases?mac="+mac)
		var leases []apiLease
		if err != nil || code != 200 || json.Unmarshal([]byte(body), &leases) != nil || len(leases) != 1 {
			return false
		}
		got = leases[0]
		return true
	})
	if err != nil {
		t.Fatalf("dhclient (%s) got no lease that rackboot lists: %v (client bound %v)", mac, err, bound)
	}
	if got.IP != bound || got.State != "bound" || !l.Subnet.Contains(got.IP) || got.IP.Less(l.Addr(100)) || l.Addr(199).Less(got.IP) {
		t.Fatalf("rackboot lists %+v; dhclient bound %v (want the same address, bound, in the pool)", got, bound)
	}
	if out := l.Exec(t, client.Host.NS, "ip", "-4", "-o", "addr", "show", "dev", client.Host.Iface); !strings.Contains(out, " "+bound.String()+"/24 ") {
		t.Errorf("client's %s does not hold %v:\n%s", client.Host.Iface, bound, out)
	}
	t.Logf("dhclient %s bound %v", mac, bound)

	// The API's and Prometheus's figures.
	subnet := l.Subnet.String()
	var subnets []struct {
		Subnet        string         `json:"subnet"`
		PoolAddresses int            `json:"pool_addresses"`
		Leases        map[string]int `json:"leases"`
	}
	if code, body, err := rb.Get(ctx, "/api/v1/subnets"); err != nil || code != 200 || json.Unmarshal([]byte(body), &subnets) != nil {
		t.Errorf("GET /api/v1/subnets: %d %v\n%s", code, err, body)
	} else if len(subnets) != 1 || subnets[0].Subnet != subnet || subnets[0].PoolAddresses != 100 || subnets[0].Leases["bound"] != 1 {
		t.Errorf("GET /api/v1/subnets: %+v, want %s with 100 pool addresses, 1 bound", subnets, subnet)
	}
	_, metrics, err := rb.Get(ctx, "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf(`rackboot_dhcp_leases{state="bound",subnet=%q} 1`, subnet),
		fmt.Sprintf(`rackboot_dhcp_pool_addresses{subnet=%q} 100`, subnet),
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !strings.Contains(metrics, "rackboot_lease_commits_total ") || strings.Contains(metrics, "rackboot_lease_commits_total 0\n") {
		t.Errorf("/metrics counts no lease commit")
	}

	// The dashboard.
	browser := e2e.StartBrowser(ctx, t, l.Server, filepath.Join(l.Out, "chromium"))
	row := fmt.Sprintf(`#leases tr[data-ip=%q]`, bound.String())
	bctx, cancel := context.WithTimeout(browser, time.Minute)
	defer cancel()
	err = chromedp.Do(bctx, chromedp.Navigate(rb.URL+"/"), chromedp.WaitVisible(`#machines`))
	if err == nil {
		_, err = chromedp.Run(bctx, chromedp.Poll[bool](fmt.Sprintf(`(() => { const r = document.querySelector(%q);
			return !document.querySelector("#leases-section").hidden && r !== null && r.dataset.state === "bound" })()`, row)))
	}
	if err != nil {
		html, _ := chromedp.Run(browser, chromedp.OuterHTML("main"))
		t.Fatalf("dashboard never showed the lease of %v: %v\n%s", bound, err, html)
	}
	text, err := chromedp.Run(browser, chromedp.Text(row))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{bound.String(), mac, "bound"} {
		if !strings.Contains(text, want) {
			t.Errorf("lease row lacks %q: %q", want, text)
		}
	}
	usage, err := chromedp.Run(browser, chromedp.Text(`#subnets`))
	if err != nil {
		t.Fatal(err)
	}
	if want := subnet + " — 1 bound of 100 pool addresses"; !strings.Contains(usage, want) {
		t.Errorf("subnet usage %q, want %q", usage, want)
	}
	shot := filepath.Join(l.Out, "dashboard-leases.png")
	if err := e2e.Screenshot(browser, shot); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	t.Logf("screenshot: %s", shot)
}
