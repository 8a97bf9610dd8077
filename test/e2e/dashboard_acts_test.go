package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"rackboot/test/e2e"
)

// TestDashboardActs: headless Chromium reads the dashboard anonymously
// (api.open_reads), signs in with the API token (an HttpOnly,
// SameSite=Strict session cookie the page's script cannot read), and sets
// a machine's boot-once from its detail panel; the API then has it. A
// write without the session, one from the page without its CSRF token or
// with a wrong one, one with the session cookie from another Origin, and
// one sent by a page of another origin are all refused and change nothing.
func TestDashboardActs(t *testing.T) {
	e2e.RequireFiles(t, e2e.Chromium)
	ctx := testContext(t, 3*time.Minute)
	l := newRackbootLab(t, "proxy", plainDHCP, configFor(""))
	mac := e2e.RandomMAC()
	rackbootCLI(ctx, t, l, "machines", "set", mac, "--name", "cn7", "--label", "rack=7")
	tok, err := os.ReadFile(filepath.Join(l.rb.DataDir, "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	bootOnce := func() string {
		t.Helper()
		var m machineJSON
		getJSON(ctx, t, l.rb, "/api/v1/machines/"+mac, &m)
		return m.BootOnce
	}

	// Another site on the lab network (busybox httpd): a mirror with a
	// platform to import, and a page of another origin.
	e2e.RequireCommands(t, "busybox")
	site := filepath.Join(l.Out, "elsewhere")
	os.MkdirAll(site, 0o755)
	os.WriteFile(filepath.Join(site, "index.html"), []byte("<!doctype html><title>elsewhere</title>"), 0o644)
	publishPlatform(t, site, e2e.MakePlatform(t, filepath.Join(l.Out, "stage"), importBuild))
	other := l.AddHost(t, "other", l.Addr(7))
	e2e.StartHTTPD(ctx, t, l.Lab, other.NS, netip.AddrPortFrom(other.IP, 80), site)
	if err := e2e.WaitHTTP(ctx, l.Server, fmt.Sprintf("http://%s/index.html", other.IP), 200); err != nil {
		t.Fatal(err)
	}

	browser := e2e.StartBrowser(ctx, t, l.Server, filepath.Join(l.Out, "chromium"))
	row := fmt.Sprintf(`tr[data-mac=%q]`, mac)
	if err := chromedp.Do(browser, chromedp.Navigate(l.rb.URL+"/"), chromedp.WaitVisible(row)); err != nil {
		t.Fatalf("the dashboard does not list %s anonymously: %v", mac, err)
	}
	// Anonymous: no actions, and a write from the page is refused.
	post := func(headers string) int {
		t.Helper()
		js := fmt.Sprintf(`fetch("/api/v1/machines/%s/boot-once", {method: "POST", credentials: "same-origin",
			headers: Object.assign({"Content-Type": "application/json"}, %s), body: JSON.stringify({item: "memtest"})}).then(r => r.status)`, mac, headers)
		code, err := chromedp.Run(browser, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
	if code := post(`{}`); code != 401 {
		t.Errorf("anonymous write from the page: HTTP %d, want 401", code)
	}
	shown := func(sel string) bool {
		t.Helper()
		v, err := chromedp.Run(browser, chromedp.Evaluate[bool](fmt.Sprintf(`getComputedStyle(document.querySelector(%q)).display !== "none"`, sel)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if shown("#import") || shown("#signin") || shown("#signed-in") || !shown("#signin-open") {
		t.Errorf("anonymous: import form %v, sign-in form %v, signed in %v, sign-in button %v; want only the button",
			shown("#import"), shown("#signin"), shown("#signed-in"), shown("#signin-open"))
	}

	// A wrong token: the form says so (and /metrics counts it, below).
	err = chromedp.Do(browser, chromedp.Click(`#signin-open`), chromedp.WaitVisible(`#signin-token`),
		chromedp.SendKeys(`#signin-token`, "rbt_not-the-token"), chromedp.Click(`#signin button[type=submit]`))
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(browser, 30*time.Second)
	defer scancel()
	if _, err := chromedp.Run(sctx, chromedp.Poll[bool](`document.querySelector("#signin-error").textContent.includes("not the API token")`)); err != nil {
		msg, _ := chromedp.Run(browser, chromedp.Text(`#signin-error`))
		t.Errorf("a wrong token at sign-in: %v (%q)", err, msg)
	}

	// Sign in.
	if _, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.querySelector("#signin-token").value = ""`)); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(browser, chromedp.SendKeys(`#signin-token`, token), chromedp.Click(`#signin button[type=submit]`), chromedp.WaitVisible(`#signed-in`))
	if err != nil {
		msg, _ := chromedp.Run(browser, chromedp.Text(`#signin-error`))
		t.Fatalf("sign in: %v (%s)", err, msg)
	}
	if !shown("#import") || shown("#signin") || shown("#signin-open") {
		t.Errorf("signed in: import form %v, sign-in form %v, sign-in button %v; want only the import form",
			shown("#import"), shown("#signin"), shown("#signin-open"))
	}
	if cookies, _ := chromedp.Run(browser, chromedp.Evaluate[string](`document.cookie`)); strings.Contains(cookies, "rackboot_session") {
		t.Errorf("the page's script can read the session cookie: %q", cookies)
	}
	// The machine's actions: boot-once smartos-noimport.
	err = chromedp.Do(browser, chromedp.Click(row), chromedp.WaitVisible(`#actions`),
		chromedp.WaitReady(`#act-item option[value="smartos-noimport"]`),
		chromedp.SetValue(`#act-item`, "smartos-noimport"), chromedp.Click(`#act-boot-once`))
	if err != nil {
		t.Fatalf("boot-once from the dashboard: %v", err)
	}
	wctx, cancel := context.WithTimeout(browser, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(wctx, chromedp.Poll[bool](`document.querySelector("#act-result").textContent.includes("next boot boots smartos-noimport")`)); err != nil {
		msg, _ := chromedp.Run(browser, chromedp.Text(`#act-result`))
		t.Fatalf("the dashboard did not confirm the boot-once: %v (%q)", err, msg)
	}
	if got := bootOnce(); got != "smartos-noimport" {
		t.Fatalf("the API has boot_once %q after the dashboard set it, want smartos-noimport", got)
	}
	badge := fmt.Sprintf(`(document.querySelector('%s .badge') || {textContent: ""}).textContent === "once: smartos-noimport"`, row)
	if _, err := chromedp.Run(wctx, chromedp.Poll[bool](badge)); err != nil {
		html, _ := chromedp.Run(browser, chromedp.OuterHTML(row))
		t.Errorf("the machines table does not show the boot-once: %v\n%s", err, html)
	}
	// Its BMC settings (read with the session): none.
	if _, err := chromedp.Run(wctx, chromedp.Poll[bool](`document.querySelector("#act-bmc").textContent.startsWith("No BMC")`)); err != nil {
		t.Errorf("the dashboard does not say the machine has no BMC: %v", err)
	}
	// Power from the dashboard: this machine has no BMC, and says so.
	if err := chromedp.Do(browser, chromedp.Click(`[data-power="status"]`)); err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(browser, 30*time.Second)
	defer pcancel()
	if _, err := chromedp.Run(pctx, chromedp.Poll[bool](`document.querySelector("#act-result").textContent.includes("has no BMC address")`)); err != nil {
		msg, _ := chromedp.Run(browser, chromedp.Text(`#act-result`))
		t.Errorf("power status of a machine without a BMC: %v (%q)", err, msg)
	}
	// Its default item and labels, through their forms; the API has them.
	type defaultsJSON struct {
		Default string            `json:"default"`
		Labels  map[string]string `json:"labels"`
	}
	apiMachine := func() defaultsJSON {
		t.Helper()
		var m defaultsJSON
		getJSON(ctx, t, l.rb, "/api/v1/machines/"+mac, &m)
		return m
	}
	formAct := func(what, done string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(browser, actions...); err != nil {
			t.Fatalf("%s from the dashboard: %v", what, err)
		}
		fctx, fcancel := context.WithTimeout(browser, 30*time.Second)
		defer fcancel()
		if _, err := chromedp.Run(fctx, chromedp.Poll[bool](fmt.Sprintf(`document.querySelector("#act-result").textContent === %q`, done))); err != nil {
			msg, _ := chromedp.Run(browser, chromedp.Text(`#act-result`))
			t.Fatalf("the dashboard did not confirm the %s: %v (%q)", what, err, msg)
		}
	}
	formAct("default", "its menu starts on smartos-noimport from now on",
		chromedp.SetValue(`#act-item`, "smartos-noimport"), chromedp.Click(`#act-default`))
	if got := apiMachine().Default; got != "smartos-noimport" {
		t.Errorf("the API has default %q after the dashboard set it, want smartos-noimport", got)
	}
	// rack=7 is replaced, role added; a label left out of the field goes.
	formAct("labels", "labels saved",
		chromedp.SetValue(`#act-labels`, "rack=8 role=compute"), chromedp.Click(`#act-labels-save`))
	if got := apiMachine().Labels; !maps.Equal(got, map[string]string{"rack": "8", "role": "compute"}) {
		t.Errorf("the API has labels %v after the dashboard saved rack=8 role=compute", got)
	}
	formAct("labels", "labels saved", chromedp.SetValue(`#act-labels`, "role=compute"), chromedp.Click(`#act-labels-save`))
	if got := apiMachine().Labels; !maps.Equal(got, map[string]string{"role": "compute"}) {
		t.Errorf("the API has labels %v after the dashboard saved role=compute alone", got)
	}
	formAct("default", "its menu starts on the rules' or the configured default again", chromedp.Click(`#act-default-clear`))
	if got := apiMachine().Default; got != "" {
		t.Errorf("the API has default %q after the dashboard cleared it", got)
	}
	if err := e2e.Screenshot(browser, filepath.Join(l.Out, "dashboard-acts.png")); err != nil {
		t.Log(err)
	}
	// A platform import from the dashboard, with its progress, ending in
	// the platforms table.
	url := fmt.Sprintf("http://%s/%s/platform-%s.tgz", other.IP, importBuild, importBuild)
	if err := chromedp.Do(browser, chromedp.SendKeys(`#import-source`, url), chromedp.Click(`#import button[type=submit]`)); err != nil {
		t.Fatal(err)
	}
	ictx, icancel := context.WithTimeout(browser, 2*time.Minute)
	defer icancel()
	imported := fmt.Sprintf(`document.querySelector("#import-status").textContent === "imported %s" && document.querySelector("#platforms").textContent.includes(%q)`, importBuild, importBuild)
	if _, err := chromedp.Run(ictx, chromedp.Poll[bool](imported)); err != nil {
		msg, _ := chromedp.Run(browser, chromedp.Text(`#import-status`))
		t.Errorf("platform import from the dashboard: %v (%q)", err, msg)
	}
	var plats []struct {
		Build string `json:"build"`
	}
	getJSON(ctx, t, l.rb, "/api/v1/platforms", &plats)
	found := false
	for _, p := range plats {
		found = found || p.Build == importBuild
	}
	if !found {
		t.Errorf("the API does not list %s after the dashboard's import: %+v", importBuild, plats)
	}

	// Signed in, the page's own writes without its CSRF token, or with a
	// wrong one, are refused.
	if code := post(`{}`); code != 403 {
		t.Errorf("write with the session but no CSRF token: HTTP %d, want 403", code)
	}
	if code := post(`{"X-CSRF-Token": "forged"}`); code != 403 {
		t.Errorf("write with the session and a wrong CSRF token: HTTP %d, want 403", code)
	}
	// A page of another site (busybox httpd on another lab host) posting
	// to rackboot: the browser sends the request (an opaque answer) but
	// not the cookie (SameSite=Strict), and cannot add the header.
	err = chromedp.Do(browser, chromedp.Navigate(fmt.Sprintf("http://%s/index.html", other.IP)))
	if err == nil {
		js := fmt.Sprintf(`fetch(%q, {method: "POST", mode: "no-cors", credentials: "include", headers: {"Content-Type": "text/plain"},
			body: JSON.stringify({item: "memtest"})}).then(() => "sent", e => "failed: " + e)`, l.rb.URL+"/api/v1/machines/"+mac+"/boot-once")
		var out string
		out, err = chromedp.Run(browser, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		t.Logf("cross-site POST from http://%s/: %s", other.IP, out)
		if out != "sent" {
			t.Errorf("the cross-site POST was not sent (%s): the test proves nothing", out)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	// The session cookie and the CSRF token taken elsewhere, sent with a
	// foreign Origin (what another site's page would send).
	hc := l.Server.HTTPClient()
	req, _ := http.NewRequestWithContext(ctx, "POST", l.rb.URL+"/api/v1/session", strings.NewReader(`{"token":"`+token+`"}`))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		CSRF string `json:"csrf_token"`
	}
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	cookies := resp.Cookies()
	if len(cookies) != 1 || info.CSRF == "" {
		t.Fatalf("sign in with Go: %d cookies, csrf %q", len(cookies), info.CSRF)
	}
	for _, tc := range []struct {
		name, origin, csrf string
		cookie             bool
		want               int
	}{
		{"no session", "", "", false, 401},
		{"foreign Origin", "http://evil.example", info.CSRF, true, 403},
		{"no CSRF token", "", "", true, 403},
	} {
		req, _ := http.NewRequestWithContext(ctx, "POST", l.rb.URL+"/api/v1/machines/"+mac+"/boot-once", strings.NewReader(`{"item":"memtest"}`))
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		if tc.csrf != "" {
			req.Header.Set("X-CSRF-Token", tc.csrf)
		}
		if tc.cookie {
			req.AddCookie(cookies[0])
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	if got := bootOnce(); got != "smartos-noimport" {
		t.Errorf("after the refused writes boot_once is %q, want smartos-noimport still", got)
	}
	// Every refusal is counted: the wrong token at sign-in, and the four
	// writes with the session but without its proof (two from the page,
	// two from Go).
	code, metrics, err := l.rb.Get(ctx, "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	for _, want := range []string{`rackboot_api_refused_total{reason="sign-in"} 1`, `rackboot_api_refused_total{reason="forged"} 4`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
