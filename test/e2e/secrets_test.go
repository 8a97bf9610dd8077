package e2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rackboot/test/e2e"
)

// TestSecretsNotServed: rackboot serve, started as the README says (an
// interface and its defaults: HTTP on :80, TFTP on :69), with its data
// directory full of state (the API token, the store and its pid file,
// serve.json, a partial download, an import's scratch directory, symbolic
// links to all of them), serves none of it to another host on the boot
// network, over HTTP (GET, HEAD, Range, "..", percent-encoding) or TFTP,
// while the files meant for booting are served.
func TestSecretsNotServed(t *testing.T) {
	t.Parallel()
	bin := needRackboot(t)
	e2e.RequireCommands(t, "curl", "tftp")
	e2e.RequireFiles(t, filepath.Join(e2e.IPXEDir, "undionly.kpxe"))
	ctx := testContext(t, 2*time.Minute)
	l := e2e.NewLab(t)
	data := filepath.Join(l.Out, "data")
	fx := e2e.MakePlatform(t, data, newBuild)
	plant := func(name, body string) {
		t.Helper()
		p := filepath.Join(data, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(data, filepath.FromSlash(name))); err != nil {
			t.Fatal(err)
		}
	}
	plant("smartos/.incoming/platform-latest.tgz.part", "partial download")
	plant("smartos/.incoming/platform-latest.tgz.part.json", `{"url":"x"}`)
	plant("smartos/.tmp-20990101T000000Z-1/platform/i86pc/kernel/amd64/unix", "scratch")
	plant("public/hello.txt", "hello from public")
	plant("notes.txt", "an operator's file at the top of the data directory")
	link("../api-token", "public/token")
	link("../../../../api-token", "smartos/"+fx.Build+"/platform/token")
	link(".incoming/platform-latest.tgz.part", "smartos/partial")
	link("../rackboot.db", "smartos/db")
	link(filepath.Join(data, "serve.json"), "public/serve")

	rb := l.Start(t, l.Server, "rackboot", bin, "serve", "--interface", e2e.Bridge, "--data-dir", data)
	base := "http://" + l.ServerIP.String()
	if err := e2e.WaitHTTP(ctx, l.Server, base+"/healthz", 200); err != nil {
		t.Fatalf("rackboot did not come up: %v\n%s", err, rb.Output())
	}
	for _, f := range []string{"api-token", "rackboot.db", "rackboot.db.pid", "serve.json"} {
		if _, err := os.Stat(filepath.Join(data, f)); err != nil {
			t.Fatalf("serve did not write %s, so the test would prove nothing: %v", f, err)
		}
	}
	client := l.AddHost(t, "client", l.Addr(3))
	checkBMCPasswordKept(ctx, t, l, client, base, data)

	// curl, with --path-as-is so that ".." reaches the server as sent.
	httpStatus := func(args ...string) string {
		argv := append([]string{"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--path-as-is", "--max-time", "10"}, args...)
		out, err := client.NS.Exec(ctx, argv...)
		if err != nil {
			t.Fatalf("%v: %v", argv, err)
		}
		return strings.TrimSpace(out)
	}
	secrets := []string{
		"/api-token", "/rackboot.db", "/rackboot.db.pid", "/serve.json", "/notes.txt",
		"/smartos/.incoming/platform-latest.tgz.part", "/smartos/.incoming/platform-latest.tgz.part.json",
		"/smartos/.tmp-20990101T000000Z-1/platform/i86pc/kernel/amd64/unix",
		"/token", "/serve", "/smartos/partial", "/smartos/db", "/smartos/" + fx.Build + "/platform/token",
		"/smartos/../api-token", "/smartos/%2e%2e/api-token", "/%61pi-token", "/smartos%2f..%2fapi-token",
		"/public/../api-token", "/./serve.json", "//rackboot.db", "/smartos/.incoming/",
	}
	for _, p := range secrets {
		for _, args := range [][]string{{base + p}, {"-I", base + p}, {"-r", "0-9", base + p}} {
			// A redirect (ServeMux cleans "..", "." and "//") is fine when
			// where it leads is refused too: curl -L below.
			if code := httpStatus(args...); code != "404" && code != "400" && code != "403" && !strings.HasPrefix(code, "3") {
				t.Errorf("curl %s: HTTP %s, want it refused", strings.Join(args, " "), code)
			}
		}
		// A redirect is only fine if where it leads is refused too.
		if code := httpStatus("-L", base+p); code == "200" || code == "206" {
			t.Errorf("curl -L %s: HTTP %s, want it refused", base+p, code)
		}
	}
	// What is meant to be booted is served, so the refusals above mean something.
	for _, p := range []string{"/undionly.kpxe", "/hello.txt", "/smartos/" + fx.Build + "/platform/i86pc/kernel/amd64/unix"} {
		if code := httpStatus(base + p); code != "200" {
			t.Errorf("curl %s: HTTP %s, want 200", base+p, code)
		}
	}

	tftpGet := func(name string) (ok bool, out string) {
		dst := filepath.Join(l.Out, "tftp-"+strings.NewReplacer("/", "_", ".", "_").Replace(name))
		os.Remove(dst)
		out, _ = client.NS.Exec(ctx, "tftp", l.ServerIP.String(), "-c", "get", name, dst)
		fi, err := os.Stat(dst)
		return err == nil && fi.Size() > 0 && !strings.Contains(out, "Error"), out
	}
	for _, name := range []string{"api-token", "rackboot.db", "rackboot.db.pid", "serve.json", "notes.txt",
		"smartos/.incoming/platform-latest.tgz.part", "token", "smartos/partial", "smartos/db",
		"smartos/../api-token", "../api-token", "/api-token", `smartos\..\api-token`} {
		if ok, out := tftpGet(name); ok {
			t.Errorf("tftp get %s: served (%s), want refused", name, out)
		}
	}
	for _, name := range []string{"undionly.kpxe", "hello.txt", "smartos/" + fx.Build + "/platform/i86pc/kernel/amd64/unix"} {
		if ok, out := tftpGet(name); !ok {
			t.Errorf("tftp get %s: %s, want the file", name, out)
		}
	}

	// The refusals are counted, and the operator's stray file is named in the log.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := client.NS.Exec(cctx, "curl", "-s", base+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "rackboot_files_refused_total") || strings.Contains(out, "rackboot_files_refused_total 0\n") {
		t.Errorf("/metrics does not count the refusals:\n%s", grepLines(out, "refused"))
	}
	if log := rb.Output(); !strings.Contains(log, "notes.txt") {
		t.Errorf("rackboot's log does not name notes.txt as no longer served")
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			fmt.Fprintln(&b, line)
		}
	}
	return b.String()
}

// checkBMCPasswordKept sets a machine's BMC password through the API (with
// the token, as an operator would) and proves that no answer holds it: not
// the machine, the machines, its BMC settings (with the token or without),
// the events or /metrics; not rackboot's log; and the store that holds it
// is a 0600 file (served nowhere: the TFTP and HTTP checks above).
func checkBMCPasswordKept(ctx context.Context, t *testing.T, l *e2e.Lab, client *e2e.Host, base, data string) {
	t.Helper()
	const password = "bmc-Secret-1234"
	tok, err := os.ReadFile(filepath.Join(data, "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	auth := "Authorization: Bearer " + strings.TrimSpace(string(tok))
	mac := e2e.RandomMAC()
	curl := func(args ...string) string {
		t.Helper()
		out, err := client.NS.Exec(ctx, append([]string{"curl", "-s", "--max-time", "10"}, args...)...)
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		return out
	}
	body := fmt.Sprintf(`{"address":"%s","user":"admin","password":"%s"}`, l.Addr(99), password)
	if out := curl("-X", "PATCH", "-H", auth, "--data", body, base+"/api/v1/machines/"+mac+"/bmc"); !strings.Contains(out, `"password_set": true`) {
		t.Fatalf("PATCH bmc: %s", out)
	}
	if out := curl("-X", "PATCH", "--data", body, base+"/api/v1/machines/"+mac+"/bmc"); !strings.Contains(out, "needs the API token") {
		t.Errorf("PATCH bmc without the token: %s", out)
	}
	curl("-X", "PATCH", "-H", auth, "--data", `{"name":"bmc-secret-test"}`, base+"/api/v1/machines/"+mac)
	for _, args := range [][]string{
		{base + "/api/v1/machines"}, {"-H", auth, base + "/api/v1/machines"},
		{base + "/api/v1/machines/" + mac}, {"-H", auth, base + "/api/v1/machines/" + mac},
		{base + "/api/v1/machines/" + mac + "/bmc"}, {"-H", auth, base + "/api/v1/machines/" + mac + "/bmc"},
		{base + "/api/v1/events"}, {base + "/metrics"},
	} {
		if out := curl(args...); strings.Contains(out, password) {
			t.Errorf("curl %v answers the BMC password: %s", args, out)
		}
	}
	if out := curl("-H", auth, base+"/api/v1/machines/"+mac+"/bmc"); !strings.Contains(out, `"password_set": true`) || !strings.Contains(out, `"user": "admin"`) {
		t.Errorf("GET bmc with the token: %s", out)
	}
	if out := curl(base + "/api/v1/machines/" + mac + "/bmc"); strings.Contains(out, "admin") {
		t.Errorf("GET bmc without the token shows the BMC: %s", out)
	}
	fi, err := os.Stat(filepath.Join(data, "rackboot.db"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the store holding the BMC password: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}
	log, _ := os.ReadFile(filepath.Join(l.Out, "rackboot.log"))
	if strings.Contains(string(log), password) {
		t.Errorf("rackboot's log holds the BMC password")
	}
	// Nor the API token: its first start wrote stdout to a file, not a terminal.
	if strings.Contains(string(log), strings.TrimSpace(string(tok))) {
		t.Errorf("rackboot's log holds the API token")
	}
}
