package e2e_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"rackboot/test/e2e"
)

// TestDashboardFollowsBoot: headless Chromium loads the dashboard, then a
// BIOS machine boots; the page, live over its event stream, shows the
// machine appear and reach "booted kernel" without a reload, and its
// timeline and menu when clicked. Screenshots go to the test's output
// directory (dashboard-booting.png, dashboard.png).
func TestDashboardFollowsBoot(t *testing.T) {
	e2e.RequireFiles(t, e2e.Chromium)
	ctx := testContext(t, bootTimeout)
	l := newRackbootLab(t, "proxy", plainDHCP, configFor(""))
	browser := e2e.StartBrowser(ctx, t, l.Server, filepath.Join(l.Out, "chromium"))

	start := time.Now()
	err := chromedp.Do(browser, chromedp.Navigate(l.rb.URL+"/"), chromedp.WaitVisible(`#machines`))
	if err == nil {
		_, err = chromedp.Run(browser, chromedp.Poll[bool](`document.querySelector("#live").classList.contains("on")`))
	}
	if err != nil {
		t.Fatalf("dashboard did not load and go live: %v", err)
	}
	t.Logf("dashboard loaded and live in %s", time.Since(start).Round(time.Millisecond))

	mac := e2e.RandomMAC()
	vm := e2e.RunBIOS(ctx, t, l.Lab, l.AddTap(t), mac, filepath.Join(l.Out, "bios.serial"))
	vm.Name = "bios"
	row := fmt.Sprintf(`tr[data-mac=%q]`, mac)

	waitFor := func(what, js string) time.Duration {
		t.Helper()
		wctx, cancel := context.WithTimeout(browser, e2e.VMTimeout)
		defer cancel()
		if _, err := chromedp.Run(wctx, chromedp.Poll[bool](js)); err != nil {
			html, _ := chromedp.Run(browser, chromedp.OuterHTML("#machines"))
			t.Fatalf("dashboard never showed %s: %v\n%s", what, err, html)
		}
		took := time.Since(vm.Started).Round(100 * time.Millisecond)
		t.Logf("dashboard shows %s %s after QEMU started", what, took)
		return took
	}
	waitFor("the machine", fmt.Sprintf(`document.querySelector(%q) !== null`, row))
	if err := e2e.Screenshot(browser, filepath.Join(l.Out, "dashboard-booting.png")); err != nil {
		t.Errorf("screenshot: %v", err)
	}
	waitFor(`"booted kernel"`, fmt.Sprintf(`(() => { const r = document.querySelector(%q);
		return r !== null && r.dataset.stage === "booted-kernel" && r.textContent.includes("booted kernel") })()`, row))
	vm.WaitBoot(ctx, t, e2e.KernelDone)

	// The machine's own view: timeline up to "booted kernel", its menu.
	err = chromedp.Do(browser, chromedp.Click(row))
	if err == nil {
		_, err = chromedp.Run(browser, chromedp.Poll[bool](
			`document.querySelectorAll("#timeline li").length >= 5 && document.querySelector("#screen .sel") !== null`))
	}
	if err != nil {
		t.Fatalf("machine detail: %v", err)
	}
	timeline, err := chromedp.Run(browser, chromedp.Text(`#timeline`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"iPXE DHCP", "menu served", "kernel", "boot archive", "booted kernel"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("timeline lacks %q:\n%s", want, timeline)
		}
	}
	selected, _ := chromedp.Run(browser, chromedp.Text(`#screen .sel`))
	if !strings.Contains(selected, "Boot SmartOS "+newBuild) {
		t.Errorf("menu preview highlights %q, want the default, Boot SmartOS %s", selected, newBuild)
	}
	shot := filepath.Join(l.Out, "dashboard.png")
	if err := e2e.Screenshot(browser, shot); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	t.Logf("screenshot: %s", shot)
}
