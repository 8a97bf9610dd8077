package e2e_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"rackboot/test/e2e"
)

// TestClusterEtcdFailures: one rackboot server (proxyDHCP beside the lab's
// dnsmasq) with its store on a 3-member etcd cluster, while etcd members die.
//
//	a. one member killed with SIGKILL: a BIOS machine boots, and writes
//	   through the API (a label, then a boot-once noimport) succeed;
//	b. a second member killed (no quorum): the machine boots again, from
//	   the state the server holds, but without its boot-once (it cannot be
//	   consumed, so it is not served); a write through the API fails with
//	   503 and a message that says etcd has no quorum; /metrics counts it;
//	c. both members started again: once the cluster is healthy, a write
//	   succeeds, the boot-once is still set, the next boot gets it, and
//	   then it is gone (served exactly once).
func TestClusterEtcdFailures(t *testing.T) {
	t.Parallel()
	e2e.RequireVM(t)
	e2e.RequireCommands(t, "dnsmasq")
	ctx := testContext(t, 5*time.Minute)
	l := newClusterLab(ctx, t)
	e2e.StartDnsmasq(ctx, t, l.Lab, l.AddHost(t, "dhcp", l.Addr(2)), e2e.PlainRouter())
	data := filepath.Join(l.Out, "data-a")
	e2e.MakePlatform(t, data, newBuild)
	a := l.server(ctx, t, "a", "proxy", data)
	mac := e2e.RandomMAC()

	// a. One member down: nothing visible changes.
	l.etcd.Kill(0)
	cmdline, took1 := bootBIOS(ctx, t, l, "boot1", mac)
	if !strings.HasPrefix(cmdline, a.URL+"/") || strings.Contains(cmdline, "noimport=true") {
		t.Fatalf("boot1 with one etcd member down: cmdline %q", cmdline)
	}
	start := time.Now()
	l.cli(ctx, t, a, "machines", "set", mac, "--label", "rack=7")
	l.cli(ctx, t, a, "machines", "boot-once", mac, "noimport")
	writes1 := time.Since(start)
	var m machineJSON
	getJSON(ctx, t, a, "/api/v1/machines/"+mac, &m)
	if m.BootOnce != "noimport" {
		t.Fatalf("boot_once %q after setting it with one member down", m.BootOnce)
	}
	unavailBefore := storeUnavailable(ctx, t, a)

	// b. Two members down: no quorum.
	l.etcd.Kill(1)
	cmdline, took2 := bootBIOS(ctx, t, l, "boot2", mac)
	if !strings.HasPrefix(cmdline, a.URL+"/") {
		t.Fatalf("boot2 without quorum was served by %q, want A (%s)", cmdline, a.URL)
	}
	if strings.Contains(cmdline, "noimport=true") {
		t.Errorf("boot2 without quorum got the boot-once it could not consume: %q", cmdline)
	}
	start = time.Now()
	code, body := patchMachine(ctx, t, a, mac, `{"labels":{"rack":"8"}}`)
	refusedIn := time.Since(start)
	t.Logf("PATCH without quorum: %d in %s: %s", code, refusedIn.Round(10*time.Millisecond), strings.TrimSpace(body))
	if code != http.StatusServiceUnavailable {
		t.Errorf("a write without quorum answered %d, want 503", code)
	}
	if !strings.Contains(body, "etcd unavailable") || !strings.Contains(body, "quorum") {
		t.Errorf("the error of a write without quorum does not say etcd is unavailable / has no quorum: %s", body)
	}
	unavailAfter := storeUnavailable(ctx, t, a)
	if unavailAfter[0]+unavailAfter[1] <= unavailBefore[0]+unavailBefore[1] {
		t.Errorf("rackboot_store_unavailable_total{op=read,write} %v before the quorum loss, %v after: the refused requests are not counted", unavailBefore, unavailAfter)
	}

	// c. Both members back: state converges.
	l.etcd.Restart(0)
	l.etcd.Restart(1)
	restarted := time.Now()
	if err := l.etcd.WaitHealthy(ctx, time.Minute); err != nil {
		t.Fatalf("etcd after the restart: %v", err)
	}
	healthy := time.Since(restarted)
	var writeErr string
	waitFor(ctx, t, 30*time.Second, "a write through the API after the quorum is back", func() bool {
		code, body := patchMachine(ctx, t, a, mac, `{"labels":{"rack":"9"}}`)
		writeErr = body
		return code == http.StatusOK
	})
	writable := time.Since(restarted)
	m = machineJSON{}
	getJSON(ctx, t, a, "/api/v1/machines/"+mac, &m)
	if m.BootOnce != "noimport" {
		t.Fatalf("boot_once %q once etcd is back, want noimport still set (last write error: %s)", m.BootOnce, writeErr)
	}
	cmdline, took3 := bootBIOS(ctx, t, l, "boot3", mac)
	if !strings.Contains(cmdline, "noimport=true") {
		t.Errorf("boot3, etcd back: the boot-once was not served: %q", cmdline)
	}
	m = machineJSON{}
	getJSON(ctx, t, a, "/api/v1/machines/"+mac, &m)
	if m.BootOnce != "" {
		t.Errorf("boot_once %q after boot3 served it", m.BootOnce)
	}
	// Served once: the machine's next menu defaults to what any machine's does.
	chooseDefault := regexp.MustCompile(`choose .*--default (\S+)`)
	next, plain := chooseDefault.FindStringSubmatch(menuFor(ctx, t, a, mac)), chooseDefault.FindStringSubmatch(menuOf(ctx, t, a))
	if next == nil || plain == nil || next[1] != plain[1] {
		t.Errorf("the menu after boot3 defaults to %q, a plain machine's to %q", next, plain)
	}
	t.Logf("boots: %s (1 member down), %s (no quorum), %s (all back); two writes with 1 member down in %s; "+
		"refused write without quorum answered in %s; rackboot_store_unavailable_total{op=read,write} %v -> %v; "+
		"members restarted: healthy in %s, API writable in %s",
		took1, took2, took3, writes1.Round(10*time.Millisecond), refusedIn.Round(10*time.Millisecond),
		unavailBefore, unavailAfter, healthy.Round(10*time.Millisecond), writable.Round(10*time.Millisecond))
}

// patchMachine sends PATCH /api/v1/machines/{mac} with the shared token
// and returns the status and the body.
func patchMachine(ctx context.Context, t *testing.T, rb *e2e.Rackboot, mac, body string) (int, string) {
	t.Helper()
	tok, err := os.ReadFile(filepath.Join(rb.DataDir, "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPatch, rb.URL+"/api/v1/machines/"+mac, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := rb.NS.HTTPClient().Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b)
}

// storeUnavailable is rackboot_store_unavailable_total{op="read"} and
// {op="write"} in rb's /metrics (0 when absent). A PATCH without quorum
// fails at its read of the machine, before it writes.
func storeUnavailable(ctx context.Context, t *testing.T, rb *e2e.Rackboot) [2]float64 {
	t.Helper()
	return [2]float64{metricValue(ctx, t, rb, `rackboot_store_unavailable_total{op="read"}`),
		metricValue(ctx, t, rb, `rackboot_store_unavailable_total{op="write"}`)}
}

// metricValue is the value of one sample (name with its labels, as
// Prometheus prints it) in rb's /metrics, 0 when absent.
func metricValue(ctx context.Context, t *testing.T, rb *e2e.Rackboot, sample string) float64 {
	t.Helper()
	code, body, err := rb.Get(ctx, "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("/metrics: %s %q: %v", sample, m[1], err)
	}
	return v
}

// menuFor is the menu rb serves mac as a BIOS machine.
func menuFor(ctx context.Context, t *testing.T, rb *e2e.Rackboot, mac string) string {
	t.Helper()
	code, body, err := rb.Get(ctx, "/boot.ipxe?mac="+mac+"&arch=bios")
	if err != nil || code != 200 {
		t.Errorf("GET the menu of %s: %d %v", mac, code, err)
		return ""
	}
	return body
}
