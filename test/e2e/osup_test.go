package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rackboot/test/e2e"
)

// TestOSUpFromDHCP: in each DHCP mode (proxy and off beside the network's
// dnsmasq, full as the only DHCP server), a machine's simulated boot (its
// menu, kernel, boot archive and hash fetched from its address, as iPXE
// would) reaches "booted kernel"; then a real OS's DHCP client (ISC
// dhclient) on the same interface, with the same MAC, asks for an address,
// and rackboot marks the boot "OS up" from that DHCP alone, once, with the
// time it took, in the registry, the timeline and /metrics.
func TestOSUpFromDHCP(t *testing.T) {
	if testing.Short() {
		t.Skip("runs rackboot, dnsmasq and dhclient; skipped with -short")
	}
	e2e.RequireRoot(t)
	e2e.RequireCommands(t, "ip", "dhclient", "dnsmasq", "curl")
	bin := needRackboot(t)
	for _, mode := range []string{"proxy", "off", "full"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t, 3*time.Minute)
			l := e2e.NewLab(t)
			data := filepath.Join(l.Out, "data")
			fx := e2e.MakePlatform(t, data, newBuild)
			cfg := configFor("")
			if mode == "full" {
				cfg.DHCPSubnets = []e2e.DHCPSubnet{{Subnet: l.Subnet, Pool: fmt.Sprintf("%s-%s", l.Addr(100), l.Addr(199))}}
			} else {
				e2e.StartDnsmasq(ctx, t, l, l.AddHost(t, "dhcp", l.Addr(2)), e2e.PlainRouter())
			}
			rb := e2e.StartRackboot(ctx, t, l, e2e.RackbootOptions{Binary: bin, DHCPMode: mode, DataDir: data, Config: cfg})

			// The machine: a host at .50 whose boot is simulated over HTTP.
			host := l.AddHost(t, "node", l.Addr(50))
			mac := strings.TrimSpace(l.Exec(t, host.NS, "cat", "/sys/class/net/"+host.Iface+"/address"))
			base := fmt.Sprintf("http://%s:%d", l.ServerIP, e2e.RackbootHTTPPort)
			for _, p := range []string{"/boot.ipxe?mac=" + mac + "&arch=bios", fx.Kernel.URLPath, fx.Archive.URLPath, fx.Hash.URLPath} {
				l.Exec(t, host.NS, "curl", "-sf", "-o", "/dev/null", "-A", "iPXE/1.21.1", base+p)
			}
			waitBoot(ctx, t, rb, mac, "booted kernel")

			// Its OS comes up: an address from DHCP, on the same interface.
			l.Exec(t, host.NS, "ip", "addr", "flush", "dev", host.Iface)
			dh := e2e.StartDhclient(t, l, host)
			b := waitBoot(ctx, t, rb, mac, "OS up")
			if b.Stage != "up" || b.UpAfterMS <= 0 {
				t.Errorf("boot after the OS's DHCP: %+v", b)
			}
			// dhclient binds (dnsmasq's or rackboot's lease), and its renewals
			// change nothing.
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := e2e.WaitUntil(wctx, func() bool { _, ok := dh.Bound(); return ok }); err != nil {
				t.Errorf("dhclient bound no address: %v", err)
			}
			var evs []struct {
				Type string `json:"type"`
				Via  string `json:"via"`
				Msg  string `json:"msg"`
			}
			code, body, err := rb.Get(ctx, "/api/v1/machines/"+mac+"/events")
			if err != nil || code != 200 {
				t.Fatalf("events: %d %v", code, err)
			}
			if err := json.Unmarshal([]byte(body), &evs); err != nil {
				t.Fatal(err)
			}
			ups := 0
			for _, ev := range evs {
				if ev.Type == "up" {
					ups++
					t.Logf("%s", ev.Msg)
					if ev.Via != "dhcp" || !strings.Contains(ev.Msg, "after the boot began") {
						t.Errorf("up event: %+v", ev)
					}
				}
			}
			if ups != 1 {
				t.Errorf("%d up events, want 1", ups)
			}
			_, metrics, _ := rb.Get(ctx, "/metrics")
			if !strings.Contains(metrics, "rackboot_os_up_seconds_count 1") {
				t.Errorf("/metrics lacks rackboot_os_up_seconds_count 1:\n%s", grepLines(metrics, "os_up"))
			}
			if log, _ := os.ReadFile(filepath.Join(l.Out, "rackboot.log")); !strings.Contains(string(log), `"OS up"`) && !strings.Contains(string(log), "OS up") {
				t.Errorf("rackboot's log does not say the OS is up")
			}
		})
	}
}

// bootJSON is the part of a machine's live boot these tests read.
type bootJSON struct {
	Stage     string  `json:"stage"`
	Result    string  `json:"result"`
	UpAfterMS float64 `json:"up_after_ms"`
}

// waitBoot waits until the machine's current boot has the result.
func waitBoot(ctx context.Context, t *testing.T, rb *e2e.Rackboot, mac, result string) bootJSON {
	t.Helper()
	var m struct {
		Boot *bootJSON `json:"boot"`
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := e2e.WaitUntil(wctx, func() bool {
		code, body, err := rb.Get(wctx, "/api/v1/machines/"+mac)
		m.Boot = nil
		return err == nil && code == 200 && json.Unmarshal([]byte(body), &m) == nil && m.Boot != nil && m.Boot.Result == result
	})
	if err != nil {
		t.Fatalf("%s: no boot with result %q: %v (boot %+v)", mac, result, err, m.Boot)
	}
	return *m.Boot
}
