package e2e_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rackboot/test/e2e"
)

// TestTargetFilesNoWayOut: with boot targets and a Secure Boot chain
// configured, what a target names is served and nothing else is: not
// through targets/<id>/ with "..", percent-encoding or a trailing slash,
// not through GRUB's absolute names or a hostile MAC in a machine's
// grub.cfg name, over HTTP and TFTP. A machine's grub.cfg carries no
// root_shadow. And a configuration whose target names the API token
// (absolute, or by a link) does not start.
func TestTargetFilesNoWayOut(t *testing.T) {
	t.Parallel()
	bin := needRackboot(t)
	e2e.RequireCommands(t, "curl", "tftp")
	ctx := testContext(t, 2*time.Minute)
	l := e2e.NewLab(t)
	data := filepath.Join(l.Out, "data")
	tree := filepath.Join(data, "os", "deb", "debian-installer", "amd64")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"linux", "initrd.gz", "bootnetx64.efi", "grubx64.efi", "beside.txt"} {
		os.WriteFile(filepath.Join(tree, n), []byte("the file "+n), 0o644)
	}
	os.Symlink("../../../../api-token", filepath.Join(tree, "token"))
	cfg := filepath.Join(l.Out, "rackboot.yaml")
	const conf = `smartos: {root_password: changeme}
secure_boot:
  shim: os/deb/debian-installer/amd64/bootnetx64.efi
  grub: os/deb/debian-installer/amd64/grubx64.efi
  grub_prefix: debian-installer/amd64/grub
targets:
  - id: inst
    linux: {kernel: os/deb/debian-installer/amd64/linux, initrd: [os/deb/debian-installer/amd64/initrd.gz], secure_boot: true}
`
	os.WriteFile(cfg, []byte(conf), 0o644)
	rb := l.Start(t, l.Server, "rackboot", bin, "serve", "--interface", e2e.Bridge, "--data-dir", data, "--config", cfg)
	base := "http://" + l.ServerIP.String()
	if err := e2e.WaitHTTP(ctx, l.Server, base+"/healthz", 200); err != nil {
		t.Fatalf("rackboot did not come up: %v\n%s", err, rb.Output())
	}
	if _, err := os.Stat(filepath.Join(data, "api-token")); err != nil {
		t.Fatalf("serve wrote no api-token, so the test would prove nothing: %v", err)
	}
	client := l.AddHost(t, "client", l.Addr(3))
	curl := func(args ...string) (code, body string) {
		t.Helper()
		argv := append([]string{"curl", "-s", "-w", "\n%{http_code}", "--path-as-is", "--max-time", "10"}, args...)
		out, err := client.NS.Exec(ctx, argv...)
		if err != nil {
			t.Fatalf("%v: %v", argv, err)
		}
		i := strings.LastIndex(out, "\n")
		return strings.TrimSpace(out[i+1:]), out[:max(i, 0)]
	}
	const macCfg = "/debian-installer/amd64/grub/rackboot/52:54:00:12:34:56.cfg"
	for _, p := range []string{"/targets/inst/linux", "/targets/inst/initrd.gz", "/bootnetx64.efi", "/grubx64.efi",
		"/debian-installer/amd64/grub/grub.cfg", macCfg} {
		if code, _ := curl(base + p); code != "200" {
			t.Errorf("curl %s: HTTP %s, want 200", p, code)
		}
	}
	if _, body := curl(base + macCfg); !strings.Contains(body, "linux /targets/inst/linux") || strings.Contains(body, "$5$") || strings.Contains(body, "root_shadow") {
		t.Errorf("a machine's grub.cfg:\n%s", body)
	}
	for _, p := range []string{
		"/targets/inst/../../api-token", "/targets/inst/%2e%2e/%2e%2e/api-token", "/targets/inst%2f..%2f..%2fapi-token",
		"/targets/inst/", "/targets/inst", "/targets/", "/targets/inst/beside.txt", "/targets/inst/token",
		"/targets/inst/linux/../../../api-token", "/os/deb/debian-installer/amd64/linux",
		"/debian-installer/amd64/grub/rackboot/../../../../api-token",
		"/debian-installer/amd64/grub/rackboot/..%2f..%2f..%2f..%2fapi-token",
		"/debian-installer/amd64/grub/rackboot/%2e%2e.cfg", "/debian-installer/amd64/grub/rackboot/x.cfg",
		"/debian-installer/amd64/grub/x86_64-efi/command.lst",
	} {
		if code, body := curl("-L", base+p); code == "200" || code == "206" || strings.Contains(body, "the file beside") {
			t.Errorf("curl -L %s: HTTP %s, want it refused", p, code)
		}
	}
	tftpGet := func(name string) (ok bool, body string) {
		dst := filepath.Join(l.Out, "tftp-out")
		os.Remove(dst)
		out, _ := client.NS.Exec(ctx, "tftp", l.ServerIP.String(), "-c", "get", name, dst)
		b, err := os.ReadFile(dst)
		return err == nil && len(b) > 0 && !strings.Contains(out, "Error"), string(b)
	}
	// tftp-hpa's client reads "a:b" as host:file, so the MAC goes with dashes
	// here (GRUB's ${net_default_mac} has colons; both parse).
	for _, name := range []string{"/targets/inst/linux", "targets/inst/initrd.gz", "/grubx64.efi", "/debian-installer/amd64/grub/grub.cfg",
		strings.ReplaceAll(macCfg, ":", "-")} {
		if ok, _ := tftpGet(name); !ok {
			t.Errorf("tftp get %s: refused, want the file", name)
		}
	}
	for _, name := range []string{"/api-token", "/targets/inst/../../api-token", `\targets\inst\..\..\api-token`,
		"/targets/inst/beside.txt", "/targets/inst/token", "/targets/inst", "/os/deb/debian-installer/amd64/linux",
		"/debian-installer/amd64/grub/rackboot/../../../../api-token", "//rackboot.db", "/serve.json"} {
		if ok, body := tftpGet(name); ok {
			t.Errorf("tftp get %s: served %q, want refused", name, body)
		}
	}

	// A configuration naming the API token as a target's file does not start.
	for i, kernel := range []string{filepath.Join(data, "api-token"), "os/deb/debian-installer/amd64/token"} {
		bad := filepath.Join(l.Out, "bad.yaml")
		os.WriteFile(bad, []byte("targets:\n  - id: x\n    linux: {kernel: '"+kernel+"'}\n"), 0o644)
		out, err := l.Server.Exec(ctx, bin, "menu", "--config", bad, "--data-dir", data, "--mac", "52:54:00:00:00:0"+string(rune('1'+i)))
		if err == nil || !strings.Contains(out+err.Error(), "data directory") {
			t.Errorf("a target naming %s: %v\n%s", kernel, err, out)
		}
	}
}
