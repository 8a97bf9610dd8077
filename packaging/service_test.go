package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requiredEnv makes a missing checker a failure instead of a skip (make
// unit sets it).
const requiredEnv = "RACKBOOT_PACKAGING_REQUIRED"

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	if os.Getenv(requiredEnv) != "" {
		t.Fatalf("%s not found (%s is set; Makefile TEST_DEPS)", name, requiredEnv)
	}
	t.Skipf("%s not found (set %s=1 to fail instead)", name, requiredEnv)
}

func check(t *testing.T, argv ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}

// smfDTD is illumos' service_bundle.dtd.1 (usr/src/cmd/svc/dtd), which
// svccfg validates manifests against; svccfg itself runs only on illumos.
var smfDTD = filepath.Join("smf", "testdata", "service_bundle.dtd.1")

func xmllint(t *testing.T, manifest string) (string, error) {
	return check(t, "xmllint", "--noout", "--nonet", "--dtdvalid", smfDTD, manifest)
}

// TestSMFManifest: the manifest is valid against SMF's DTD, and a manifest
// that is not (a misspelt element) is refused, so the check can fail.
func TestSMFManifest(t *testing.T) {
	needTool(t, "xmllint")
	manifest := filepath.Join("smf", "rackboot.xml")
	if out, err := xmllint(t, manifest); err != nil {
		t.Fatalf("%s is not valid against %s: %v\n%s", manifest, smfDTD, err, out)
	}
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`user="rackboot"`, "net_privaddr", "net_icmpaccess", `name="refresh" exec=":kill -HUP"`,
		"/opt/local/lib/svc/method/rackboot"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", manifest, want)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.xml")
	broken := strings.Replace(string(b), "<single_instance/>", "<single_instances/>", 1)
	if err := os.WriteFile(bad, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := xmllint(t, bad); err == nil {
		t.Errorf("xmllint accepted a manifest with an element the DTD does not have:\n%s", out)
	}
}

// TestShellScripts: the rc.d script, the SMF method and the Debian
// maintainer scripts parse with sh -n and pass shellcheck (as POSIX sh).
func TestShellScripts(t *testing.T) {
	needTool(t, "sh")
	needTool(t, "shellcheck")
	for _, script := range []string{"freebsd/rackboot", "smf/rackboot.sh", "debian/postinst", "debian/prerm", "debian/postrm"} {
		if out, err := check(t, "sh", "-n", script); err != nil {
			t.Errorf("sh -n %s: %v\n%s", script, err, out)
		}
		if out, err := check(t, "shellcheck", "--shell=sh", script); err != nil {
			t.Errorf("shellcheck %s: %v\n%s", script, err, out)
		}
	}
	// The check can fail: a bashism in a /bin/sh script is refused.
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\nif [[ $1 == x ]]; then echo x; fi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := check(t, "shellcheck", "--shell=sh", bad); err == nil {
		t.Errorf("shellcheck accepted [[ ]] in a POSIX sh script:\n%s", out)
	}
}

// TestRCScript: what rc.subr needs is there, and reload sends SIGHUP.
func TestRCScript(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("freebsd", "rackboot"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# PROVIDE: rackboot", "# REQUIRE: NETWORKING", `rcvar="rackboot_enable"`,
		`sig_reload="HUP"`, `load_rc_config "$name"`, `run_rc_command "$1"`, "serve --config"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("freebsd/rackboot lacks %s", want)
		}
	}
}
