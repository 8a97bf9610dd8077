package e2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"rackboot/test/e2e"
)

// clusterLab is a lab with a 3-member etcd cluster on its own hosts and
// rackboot servers on theirs, all sharing the store under one prefix.
type clusterLab struct {
	*e2e.Lab
	bin   string
	etcd  *e2e.EtcdCluster
	hosts map[string]*e2e.Host
}

func newClusterLab(ctx context.Context, t *testing.T) *clusterLab {
	t.Helper()
	bin := needRackboot(t)
	e2e.EtcdBinary(t)
	l := &clusterLab{Lab: e2e.NewLab(t), bin: bin, hosts: map[string]*e2e.Host{}}
	start := time.Now()
	l.etcd = e2e.StartEtcd(ctx, t, l.Lab, 3, 21)
	t.Logf("etcd cluster up in %s", time.Since(start).Round(10*time.Millisecond))
	return l
}

// server starts (or starts again) rackboot server name on its own host
// (.11 for "a", .12 for "b", ...), with the store on the lab's etcd.
func (l *clusterLab) server(ctx context.Context, t *testing.T, name, dhcpMode, data string) *e2e.Rackboot {
	t.Helper()
	h := l.hosts[name]
	if h == nil {
		h = l.AddHost(t, "rb"+name, l.Addr(10+byte(name[0]-'a'+1)))
		l.hosts[name] = h
	}
	cfg := configFor("")
	cfg.ServerName = name
	cfg.EtcdEndpoints = l.etcd.Endpoints()
	cfg.EtcdPrefix = "/rackboot/" + l.ID + "/"
	return e2e.StartRackboot(ctx, t, l.Lab, e2e.RackbootOptions{Binary: l.bin, DHCPMode: dhcpMode, DataDir: data,
		Config: cfg, Host: h, Name: "rackboot-" + name})
}

// cli runs the rackboot CLI on rb's host against rb's API, with rb's data
// directory (its api-token file holds the shared token).
func (l *clusterLab) cli(ctx context.Context, t *testing.T, rb *e2e.Rackboot, args ...string) string {
	t.Helper()
	argv := append([]string{l.bin}, args...)
	argv = append(argv, "--server", rb.URL, "--data-dir", rb.DataDir)
	out, err := rb.NS.Exec(ctx, argv...)
	if err != nil {
		t.Fatalf("rackboot %s (on %s): %v\n%s", strings.Join(args, " "), rb.URL, err, out)
	}
	t.Logf("$ rackboot %s   # against %s\n%s", strings.Join(args, " "), rb.URL, out)
	return out
}

// waitFor polls cond every 200 ms for at most d.
func waitFor(ctx context.Context, t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := e2e.WaitUntil(wctx, cond); err != nil {
		t.Fatalf("%s: not within %s", what, d)
	}
	return time.Since(start)
}

// bootBIOS boots a BIOS machine with mac to the test kernel and returns
// the kernel's command line; the kernel URL says which server served it.
func bootBIOS(ctx context.Context, t *testing.T, l *clusterLab, name, mac string) (cmdline string, took time.Duration) {
	t.Helper()
	vm := e2e.RunBIOS(ctx, t, l.Lab, l.AddTap(t), mac, filepath.Join(l.Out, name+".serial"))
	vm.Name = name
	took = vm.WaitBoot(ctx, t, e2e.KernelDone)
	r, err := e2e.ParseKernelReport(vm.Text())
	if err != nil {
		t.Fatalf("%s: test kernel report: %v", name, err)
	}
	t.Logf("%s: kernel cmdline: %s", name, r.Cmdline)
	return r.Cmdline, took
}

// TestClusterBootOnceAndFailover: three etcd members and two rackboot
// servers, each on its own host of one bridge, beside the lab's dnsmasq.
//
//  1. Only A answers proxyDHCP (B runs with dhcp.mode off), so the BIOS
//     machine boots through A. B, whose data directory starts empty, gets
//     A's platform through its syncer.
//  2. A boot-once (noimport) is set through B's API (`rackboot machines
//     boot-once` against B); the machine reboots through A and gets it;
//     the registry on B then shows no boot-once and the boots A served.
//  3. B is started again with proxyDHCP, then A is killed with SIGKILL;
//     the machine's next boot goes through B, without the boot-once. The
//     time from the kill to that machine booted is printed.
func TestClusterBootOnceAndFailover(t *testing.T) {
	t.Parallel()
	e2e.RequireVM(t)
	e2e.RequireCommands(t, "dnsmasq")
	ctx := testContext(t, 6*time.Minute)
	l := newClusterLab(ctx, t)
	e2e.StartDnsmasq(ctx, t, l.Lab, l.AddHost(t, "dhcp", l.Addr(2)), e2e.PlainRouter())
	dataA, dataB := filepath.Join(l.Out, "data-a"), filepath.Join(l.Out, "data-b")
	fx := e2e.MakePlatform(t, dataA, newBuild)
	if err := os.MkdirAll(dataB, 0o755); err != nil {
		t.Fatal(err)
	}
	a := l.server(ctx, t, "a", "proxy", dataA)
	b := l.server(ctx, t, "b", "off", dataB)

	// B follows the catalog: A's platform arrives on B's disk.
	took := waitFor(ctx, t, time.Minute, "the platform on B's disk", func() bool {
		_, err := os.Stat(filepath.Join(dataB, filepath.FromSlash(fx.Archive.URLPath)))
		return err == nil
	})
	t.Logf("platform %s synced to B %s after B started", newBuild, took.Round(10*time.Millisecond))
	l.cli(ctx, t, b, "servers")

	// 1. The first boot, through A.
	mac := e2e.RandomMAC()
	cmdline, took1 := bootBIOS(ctx, t, l, "boot1", mac)
	if !strings.HasPrefix(cmdline, a.URL+"/") {
		t.Fatalf("boot1 was served by %q, want A (%s)", cmdline, a.URL)
	}

	// 2. Boot-once through B, served by A exactly once.
	l.cli(ctx, t, b, "machines", "boot-once", mac, "noimport")
	var m machineJSON
	getJSON(ctx, t, a, "/api/v1/machines/"+mac, &m)
	if m.BootOnce != "noimport" {
		t.Fatalf("A's registry has boot_once %q after B set it", m.BootOnce)
	}
	cmdline, took2 := bootBIOS(ctx, t, l, "boot2", mac)
	if !strings.HasPrefix(cmdline, a.URL+"/") || !strings.Contains(cmdline, "noimport=true") {
		t.Fatalf("boot2: served by A with noimport=true? cmdline %q", cmdline)
	}
	waitFor(ctx, t, 15*time.Second, "B's registry shows both boots A served", func() bool {
		m = machineJSON{}
		getJSON(ctx, t, b, "/api/v1/machines/"+mac, &m)
		return len(m.Boots) >= 2
	})
	if m.BootOnce != "" {
		t.Errorf("B's registry still has boot_once %q after A served it", m.BootOnce)
	}
	for i, bt := range m.Boots {
		if bt.Result != "booted kernel" || !strings.Contains(bt.Kernel, newBuild) {
			t.Errorf("boot %d as B shows it: %+v", i+1, bt)
		}
	}
	if m.Boots[len(m.Boots)-1].Item != "smartos-noimport" {
		t.Errorf("the last boot B shows used item %q, want smartos-noimport", m.Boots[len(m.Boots)-1].Item)
	}

	// 3. B answers PXE too; A dies; the next boot goes through B.
	b.Stop()
	b = l.server(ctx, t, "b", "proxy", dataB)
	waitFor(ctx, t, 30*time.Second, "B lists A and B alive", func() bool {
		return aliveServers(ctx, t, b) == 2
	})
	killed := time.Now()
	a.Kill()
	t.Logf("A killed with SIGKILL")
	cmdline, took3 := bootBIOS(ctx, t, l, "boot3", mac)
	sinceKill := time.Since(killed)
	if !strings.HasPrefix(cmdline, b.URL+"/") {
		t.Fatalf("boot3 was served by %q, want B (%s)", cmdline, b.URL)
	}
	if strings.Contains(cmdline, "noimport=true") {
		t.Errorf("boot3 got the boot-once again: %q", cmdline)
	}
	t.Logf("boots: %s, %s (through A), %s (through B); kill -9 of A to the next machine booted: %s",
		took1, took2, took3, sinceKill.Round(100*time.Millisecond))
	gone := waitFor(ctx, t, 30*time.Second, "B sees A gone", func() bool { return aliveServers(ctx, t, b) == 1 })
	t.Logf("B saw A's record expire %s after the boot", gone.Round(100*time.Millisecond))
	l.cli(ctx, t, b, "servers")
	if code, metrics, err := b.Get(ctx, "/metrics"); err != nil || code != 200 || !strings.Contains(metrics, "rackboot_cluster_servers_alive 1") {
		t.Errorf("B's /metrics lacks rackboot_cluster_servers_alive 1 (%d %v)", code, err)
	}
}

// aliveServers is how many servers rb's GET /api/v1/servers says are alive.
func aliveServers(ctx context.Context, t *testing.T, rb *e2e.Rackboot) int {
	var snap struct {
		Members []struct {
			Name  string `json:"name"`
			Alive bool   `json:"alive"`
		} `json:"members"`
	}
	getJSON(ctx, t, rb, "/api/v1/servers", &snap)
	n := 0
	for _, m := range snap.Members {
		if m.Alive {
			n++
		}
	}
	return n
}

// TestClusterPlatformFollows: a platform imported through A (`rackboot
// platform import <file>` against A's API) is fetched by B from A over
// HTTP, checked and installed: on B's disk with the fixture's bytes, in
// B's menu, and `rackboot platform list` on B says it is present on both.
func TestClusterPlatformFollows(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*time.Minute)
	l := newClusterLab(ctx, t)
	dataA, dataB := filepath.Join(l.Out, "data-a"), filepath.Join(l.Out, "data-b")
	for _, d := range []string{dataA, dataB} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a := l.server(ctx, t, "a", "off", dataA)
	b := l.server(ctx, t, "b", "off", dataB)

	fx := e2e.MakePlatform(t, filepath.Join(l.Out, "stage"), importBuild)
	publishPlatform(t, filepath.Join(l.Out, "mirror"), fx)
	tgz := filepath.Join(l.Out, "mirror", importBuild, "platform-"+importBuild+".tgz")
	start := time.Now()
	out := l.cli(ctx, t, a, "platform", "import", tgz)
	if !strings.Contains(out, "imported "+importBuild) {
		t.Fatalf("import through A failed")
	}
	took := waitFor(ctx, t, time.Minute, "B presents the build", func() bool {
		return strings.Contains(menuOf(ctx, t, b), importBuild)
	})
	t.Logf("imported on A, in B's menu %s later (%s after the import began)", took.Round(10*time.Millisecond), time.Since(start).Round(10*time.Millisecond))
	for _, f := range []e2e.FixtureFile{fx.Kernel, fx.Archive, fx.Hash} {
		want := fileSHA256(t, f.Path)
		got := fileSHA256(t, filepath.Join(dataB, filepath.FromSlash(f.URLPath)))
		if got != want {
			t.Errorf("%s on B: sha256 %s, want %s", f.URLPath, got, want)
		}
	}
	var list []struct {
		Build    string `json:"build"`
		Manifest *struct {
			SHA256 string `json:"sha256"`
			Files  int    `json:"files"`
		} `json:"manifest"`
		Servers []struct {
			Server   string `json:"server"`
			State    string `json:"state"`
			Manifest string `json:"manifest"`
		} `json:"servers"`
	}
	waitFor(ctx, t, 30*time.Second, "the build present on a and b", func() bool {
		list = nil
		getJSON(ctx, t, b, "/api/v1/platforms", &list)
		present := 0
		for _, p := range list {
			for _, s := range p.Servers {
				if p.Build == importBuild && s.State == "present" && p.Manifest != nil && s.Manifest == p.Manifest.SHA256 {
					present++
				}
			}
		}
		return present == 2
	})
	if len(list) != 1 || list[0].Manifest == nil || list[0].Manifest.Files < 3 {
		t.Errorf("platforms as B lists them: %+v", list)
	}
	out = l.cli(ctx, t, b, "platform", "list")
	if !strings.Contains(out, "present on a, b") {
		t.Errorf("platform list on B does not say the build is present on a, b")
	}
	code, body, err := a.Get(ctx, "/api/v1/platforms")
	if err != nil || code != 200 || strings.Contains(body, `"files":[`) {
		t.Errorf("A's platform JSON dumps the manifest's files (%d %v)", code, err)
	}
	checkServersOnDashboard(ctx, t, l, b)
}

// checkServersOnDashboard: rb's dashboard, in headless Chromium, lists
// servers a and b alive and healthy (skipped without Chromium).
func checkServersOnDashboard(ctx context.Context, t *testing.T, l *clusterLab, rb *e2e.Rackboot) {
	t.Helper()
	if _, err := os.Stat(e2e.Chromium); err != nil {
		t.Logf("no %s: the dashboard's Servers section is not checked", e2e.Chromium)
		return
	}
	browser := e2e.StartBrowser(ctx, t, rb.NS, filepath.Join(l.Out, "chromium"))
	wctx, cancel := context.WithTimeout(browser, time.Minute)
	defer cancel()
	err := chromedp.Do(wctx, chromedp.Navigate(rb.URL+"/"))
	if err == nil {
		_, err = chromedp.Run(wctx, chromedp.Poll[bool](`document.querySelectorAll('#servers tr[data-alive="true"]').length === 2 && `+
			`!document.querySelector("#servers-section").hidden && `+
			`[...document.querySelectorAll("#servers td")].filter(td => td.textContent.startsWith("ok, ")).length === 2`))
	}
	if err != nil {
		html, _ := chromedp.Run(browser, chromedp.OuterHTML("#servers-section"))
		t.Fatalf("the dashboard does not list a and b alive and healthy: %v\n%s", err, html)
	}
	if err := e2e.Screenshot(browser, filepath.Join(l.Out, "dashboard-servers.png")); err != nil {
		t.Logf("screenshot: %v", err)
	}
	t.Logf("the dashboard lists both servers, alive and healthy")
}

// menuOf is the menu rb serves a made-up BIOS machine.
func menuOf(ctx context.Context, t *testing.T, rb *e2e.Rackboot) string {
	code, body, err := rb.Get(ctx, "/boot.ipxe?mac=52:54:00:00:00:01&arch=bios")
	if err != nil || code != 200 {
		return ""
	}
	return body
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
