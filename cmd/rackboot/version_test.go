package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"rackboot/internal/version"
)

func runRoot(t *testing.T, args ...string) string {
	t.Helper()
	root := rootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("rackboot %s: %v", strings.Join(args, " "), err)
	}
	return out.String()
}

// `rackboot version` and `--version` say the same: version, commit, Go
// version, build date; --json has the same fields.
func TestVersion(t *testing.T) {
	defer func(v, c, d string) { version.Version, version.Commit, version.Date = v, c, d }(version.Version, version.Commit, version.Date)
	version.Version, version.Commit, version.Date = "1.2.0", "c0ffee123456", "2026-12-06T08:00:00Z"
	text := runRoot(t, "version")
	for _, want := range []string{"rackboot 1.2.0", "c0ffee123456", runtime.Version(), "2026-12-06T08:00:00Z"} {
		if !strings.Contains(text, want) {
			t.Errorf("rackboot version lacks %q:\n%s", want, text)
		}
	}
	if flag := runRoot(t, "--version"); flag != text {
		t.Errorf("--version:\n%s\nrackboot version:\n%s", flag, text)
	}
	var info version.Info
	if err := json.Unmarshal([]byte(runRoot(t, "version", "--json")), &info); err != nil {
		t.Fatal(err)
	}
	if info.Version != "1.2.0" || info.Commit != "c0ffee123456" || info.GoVersion != runtime.Version() || info.Date != "2026-12-06T08:00:00Z" {
		t.Errorf("version --json: %+v", info)
	}
}

// The hidden man-pages command writes a page per command, serve's among
// them with its configuration reference.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	runRoot(t, "man-pages", dir)
	b, err := os.ReadFile(filepath.Join(dir, "rackboot-serve.1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "proxyDHCP") || !strings.Contains(string(b), "SIGHUP") {
		t.Errorf("rackboot-serve.1 lacks serve's help:\n%.400s", b)
	}
	for _, page := range []string{"rackboot.1", "rackboot-version.1"} {
		if _, err := os.Stat(filepath.Join(dir, page)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "rackboot-man-pages.1")); err == nil {
		t.Error("the hidden man-pages command has a man page")
	}
}
