package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"rackboot/test/e2e"
)

// TestBMCBootNow: a machine behind a real BMC simulator (OpenIPMI's
// ipmi_sim, lanplus, driving a BIOS QEMU through ipmi-bmc-extern), all in
// the lab's namespaces. `rackboot machines boot MAC --item
// smartos-noimport --now` powers the machine on and it boots that item
// once (its kernel's -B has noimport=true); the same command on the
// running machine cycles it into the item again; `machines power on`
// then boots the default (no noimport). ipmitool cross-checks the power
// state, ipmi_sim's refusal of the PXE boot device is a warning, and a
// wrong password is a clear error.
func TestBMCBootNow(t *testing.T) {
	t.Parallel()
	ctx := testContext(t, 3*bootTimeout)
	l := newRackbootLab(t, "proxy", plainDHCP, configFor(""))
	b := e2e.StartBMC(ctx, t, l.Lab, "bmc")
	mac := b.MAC

	pwFile := filepath.Join(l.Out, "bmc.pass")
	if err := os.WriteFile(pwFile, []byte(b.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rackbootCLI(ctx, t, l, "machines", "bmc", "set", mac, "--address", b.Addr.String(), "--user", b.User, "--password-file", pwFile)
	out := rackbootCLI(ctx, t, l, "machines", "bmc", "show", mac)
	if strings.Contains(out, b.Password) || !strings.Contains(out, "set (never shown)") {
		t.Errorf("bmc show: %s", out)
	}
	checkPower(ctx, t, l, b, "off")

	// 1. Off → boot --now: powered on, boots smartos-noimport once.
	out = bootNow(ctx, t, l, mac)
	for _, want := range []string{"powered on (was off)", "warning: the BMC refused to set the boot device", "done: the kernel is loaded"} {
		if !strings.Contains(out, want) {
			t.Errorf("boot --now output lacks %q", want)
		}
	}
	checkBMCBoot(ctx, t, l, b, 1, true)

	// 2. Running → boot --now: power cycled, the item again. The machine
	// waits at iPXE's shell (its default for now), so that it is on.
	if err := waitPower(ctx, b, l, "off"); err != nil {
		t.Fatal(err)
	}
	rackbootCLI(ctx, t, l, "machines", "set", mac, "--default", "shell")
	rackbootCLI(ctx, t, l, "machines", "power", "on", mac)
	if err := b.WaitConsole(ctx, 2, ipxeShell); err != nil {
		t.Fatalf("power-on 2 did not reach iPXE's shell: %v", err)
	}
	checkPower(ctx, t, l, b, "on")
	out = bootNow(ctx, t, l, mac)
	if !strings.Contains(out, "power cycled (was on)") || !strings.Contains(out, "done: the kernel is loaded") {
		t.Errorf("boot --now of a running machine: %s", out)
	}
	checkBMCBoot(ctx, t, l, b, 3, true)

	// 3. The next power-on boots the default again (the configuration's,
	// once the machine's own "shell" is cleared).
	if err := waitPower(ctx, b, l, "off"); err != nil {
		t.Fatal(err)
	}
	rackbootCLI(ctx, t, l, "machines", "set", mac, "--default", "")
	rackbootCLI(ctx, t, l, "machines", "power", "on", mac)
	checkBMCBoot(ctx, t, l, b, 4, false)
	if err := waitPower(ctx, b, l, "off"); err != nil {
		t.Error(err)
	}
	checkPower(ctx, t, l, b, "off")

	if out := rackbootCLI(ctx, t, l, "machines", "show", mac); !strings.Contains(out, "BMC: "+b.Addr.String()+" (lanplus), user admin, password set") || strings.Contains(out, b.Password) {
		t.Errorf("machines show does not name the BMC (or shows its password)")
	}

	// The timeline: the booted boots began at power-on.
	var evs []eventJSON
	getJSON(ctx, t, l.rb, "/api/v1/machines/"+mac+"/events", &evs)
	powerOns := 0
	for _, ev := range evs {
		if ev.Type == "power" && ev.Stage == "power-on" {
			powerOns++
		}
	}
	if powerOns != 4 {
		t.Errorf("%d power-on events in the timeline, want 4 (before the dashboard's)", powerOns)
	}

	// 4. From the dashboard, signed in: power status, then "Boot now"
	// (reinstall/rescue) into smartos-noimport.
	dashboardBootNow(ctx, t, l, b)
	checkBMCBoot(ctx, t, l, b, 5, true)

	// A wrong password is a clear error, and the password never shows.
	other := e2e.RandomMAC()
	wrong := filepath.Join(l.Out, "wrong.pass")
	os.WriteFile(wrong, []byte("not-the-password\n"), 0o600)
	rackbootCLI(ctx, t, l, "machines", "bmc", "set", other, "--address", b.Addr.String(), "--user", b.User, "--password-file", wrong)
	argv := []string{needRackboot(t), "machines", "power", "status", other, "--server", l.rb.URL, "--data-dir", l.rb.DataDir}
	out, err := l.Server.Exec(ctx, argv...)
	t.Logf("$ rackboot machines power status %s (wrong password)\n%s", other, out)
	if err == nil || !strings.Contains(out, "refused the user name or password") || strings.Contains(out, "not-the-password") {
		t.Errorf("wrong password: err %v, output %q", err, out)
	}

	code, metrics, err := l.rb.Get(ctx, "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	for _, want := range []string{`rackboot_power_operations_total{action="status",result="auth"} 1`, `rackboot_power_operations_total{action="cycle",result="ok"} 3`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	log, _ := os.ReadFile(filepath.Join(l.Out, "rackboot.log"))
	if strings.Contains(string(log), b.Password) {
		t.Error("rackboot's log holds the BMC password")
	}
}

// bootNow runs `rackboot machines boot MAC --item smartos-noimport --now`,
// which follows the boot (longer than rackbootCLI's 30 s under TCG).
func bootNow(ctx context.Context, t *testing.T, l *rackbootLab, mac string) string {
	t.Helper()
	args := []string{"machines", "boot", mac, "--item", "smartos-noimport", "--now", "--timeout", "4m"}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	argv := l.Server.Command(append(append([]string{needRackboot(t)}, args...), "--server", l.rb.URL, "--data-dir", l.rb.DataDir)...)
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	t.Logf("$ rackboot %s\n%s", strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("rackboot %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// ipxeShell is iPXE's prompt on the serial console.
var ipxeShell = regexp.MustCompile(`iPXE>`)

// checkBMCBoot waits for the n-th power-on's console to show the test
// kernel's report, with or without noimport=true on its -B line.
func checkBMCBoot(ctx context.Context, t *testing.T, l *rackbootLab, b *e2e.BMC, n int, noImport bool) {
	t.Helper()
	if err := b.WaitConsole(ctx, n, e2e.KernelDone); err != nil {
		t.Fatalf("power-on %d: %v (power-ons so far: %d)", n, err, b.PowerOns())
	}
	r, err := e2e.ParseKernelReport(b.Boot(n).Text())
	if err != nil {
		t.Fatalf("power-on %d: test kernel report: %v", n, err)
	}
	url, args := e2e.KernelCmdlineArgs(r.Cmdline)
	t.Logf("power-on %d: kernel %s %s", n, url, args)
	if !strings.HasSuffix(url, l.newest.Kernel.URLPath) || len(r.Modules) == 0 {
		t.Errorf("power-on %d: kernel %s with %d modules, want %s and its boot archive", n, url, len(r.Modules), l.newest.Kernel.URLPath)
	} else {
		checkModule(t, r.Modules[0], l.newest.Archive)
	}
	if code, err := b.ExitCode(n, 30*time.Second); err != nil || code != 33 {
		t.Errorf("power-on %d: QEMU exit: status %d, %v (want 33: the test kernel's isa-debug-exit)", n, code, err)
	}
	if got := strings.Contains(args, "noimport=true"); got != noImport {
		t.Errorf("power-on %d: noimport=true on the -B line is %v, want %v: %s", n, got, noImport, args)
	}
}

// checkPower compares rackboot's and ipmitool's view of the power state.
func checkPower(ctx context.Context, t *testing.T, l *rackbootLab, b *e2e.BMC, want string) {
	t.Helper()
	st, err := b.PowerState(ctx, l.Lab)
	if err != nil || st != want {
		t.Errorf("ipmitool: power %q (%v), want %s", st, err, want)
	}
	out := rackbootCLI(ctx, t, l, "machines", "power", "status", b.MAC)
	if !strings.Contains(out, "is "+want) {
		t.Errorf("rackboot machines power status: %q, want %s", out, want)
	}
}

// waitPower waits until ipmitool reports the power state (the test kernel
// powers the machine off when it is done).
func waitPower(ctx context.Context, b *e2e.BMC, l *rackbootLab, want string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return e2e.WaitUntil(ctx, func() bool {
		st, err := b.PowerState(ctx, l.Lab)
		return err == nil && st == want
	})
}

// dashboardBootNow signs in to the dashboard in headless Chromium, reads
// the machine's power state and boots it into smartos-noimport with
// "Boot now", as an operator would for a reinstall.
func dashboardBootNow(ctx context.Context, t *testing.T, l *rackbootLab, b *e2e.BMC) {
	t.Helper()
	e2e.RequireFiles(t, e2e.Chromium)
	tok, err := os.ReadFile(filepath.Join(l.rb.DataDir, "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	browser := e2e.StartBrowser(ctx, t, l.Server, filepath.Join(l.Out, "chromium"))
	row := fmt.Sprintf(`tr[data-mac=%q]`, b.MAC)
	err = chromedp.Do(browser, chromedp.Navigate(l.rb.URL+"/"), chromedp.WaitVisible(row),
		chromedp.Click(`#signin-open`), chromedp.WaitVisible(`#signin-token`),
		chromedp.SendKeys(`#signin-token`, strings.TrimSpace(string(tok))), chromedp.Click(`#signin button[type=submit]`),
		chromedp.WaitVisible(`#signed-in`), chromedp.Click(row), chromedp.WaitVisible(`#actions`),
		chromedp.WaitReady(`#act-item option[value="smartos-noimport"]`))
	if err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	wait := func(what, text string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(browser, time.Minute)
		defer cancel()
		js := fmt.Sprintf(`document.querySelector("#act-result").textContent.includes(%q)`, text)
		if _, err := chromedp.Run(wctx, chromedp.Poll[bool](js)); err != nil {
			msg, _ := chromedp.Run(browser, chromedp.Text(`#act-result`))
			t.Fatalf("dashboard %s: %v (%q)", what, err, msg)
		}
		msg, _ := chromedp.Run(browser, chromedp.Text(`#act-result`))
		t.Logf("dashboard %s: %s", what, msg)
	}
	if err := chromedp.Do(browser, chromedp.Click(`[data-power="status"]`)); err != nil {
		t.Fatal(err)
	}
	wait("power status", b.MAC+": is off")
	if _, err := chromedp.Run(browser, chromedp.Text(`#act-bmc`)); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(browser, chromedp.SetValue(`#act-item`, "smartos-noimport"), chromedp.Click(`#act-boot-now`))
	if err != nil {
		t.Fatal(err)
	}
	wait("boot now", "booting smartos-noimport now: "+b.MAC+": powered on (was off)")
	if err := e2e.Screenshot(browser, filepath.Join(l.Out, "dashboard-boot-now.png")); err != nil {
		t.Log(err)
	}
}
