package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"rackboot/internal/api"
	"rackboot/internal/config"
	"rackboot/internal/server"
	"rackboot/internal/smartos/smartostest"
	"rackboot/internal/store/boltstore"
)

const (
	buildOld = "20240101T000000Z"
	buildNew = "20250101T000000Z"
)

// rackboot runs the real command line in this process and returns what it
// wrote to stdout and stderr.
func rackboot(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := rootCommand()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func mustRackboot(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := rackboot(t, args...)
	if err != nil {
		t.Fatalf("rackboot %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func listJSON(t *testing.T, dataDir string, extra ...string) []api.Platform {
	t.Helper()
	var list []api.Platform
	out := mustRackboot(t, append([]string{"platform", "list", "--data-dir", dataDir, "-o", "json"}, extra...)...)
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("list --output json is not JSON: %v\n%s", err, out)
	}
	return list
}

// platformCLI runs the whole platform command set against a mirror; the
// same checks run with the store opened by the CLI and through a server.
func platformCLI(t *testing.T, dataDir string, m *smartostest.Mirror) {
	urlOld, tgzOld := m.Add(t, buildOld, 2<<20)
	urlNew, tgzNew := m.Add(t, buildNew, 3<<20)
	dd := []string{"--data-dir", dataDir}

	// By URL: md5sums.txt is found and checked, the password kept.
	out, errOut, err := rackboot(t, append([]string{"platform", "import", urlOld}, dd...)...)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "imported "+buildOld+" (2.1 MiB, sha256 ") || !strings.Contains(out, "platform show "+buildOld) {
		t.Errorf("import output:\n%s", out)
	}
	// Not a terminal: progress comes as log lines.
	if !regexp.MustCompile(`download platform-`+buildOld+`\.tgz: .* of .* \(\d+%\)`).MatchString(errOut) ||
		!strings.Contains(errOut, "verify platform-"+buildOld+".tgz") || strings.ContainsAny(errOut, "\r\x1b") {
		t.Errorf("progress on a pipe:\n%q", errOut)
	}
	// By file, given relative to the working directory, and "latest" from
	// --mirror in one run; then once more: already there.
	// The file was downloaded by hand with the password published beside it.
	file := filepath.Join(t.TempDir(), "platform-"+buildNew+".tgz")
	if err := os.WriteFile(file, tgzNew, 0o644); err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(filepath.Dir(file), "SINGLE_USER_ROOT_PASSWORD.txt")
	if err := os.WriteFile(pwFile, []byte(smartostest.Password(buildNew)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Dir(file))
	out = mustRackboot(t, append([]string{"platform", "import", "platform-" + buildNew + ".tgz", "latest", "--mirror", m.URL}, dd...)...)
	if !strings.Contains(out, "imported "+buildNew+" (3.1 MiB") || !strings.Contains(out, buildNew+" is already imported") {
		t.Errorf("file and latest:\n%s", out)
	}

	list := listJSON(t, dataDir)
	if len(list) != 2 || list[0].Build != buildNew || list[1].Build != buildOld ||
		list[1].MD5 != smartostest.MD5(tgzOld) || list[0].Source != file || list[1].Source != urlOld {
		t.Fatalf("list: %+v", list)
	}
	for _, p := range list {
		if p.RootPassword != "" {
			t.Errorf("list shows %s's root password", p.Build)
		}
	}
	table := mustRackboot(t, append([]string{"platform", "list"}, dd...)...)
	for _, want := range []string{
		"BUILD             SIZE     IMPORTED          CHECKSUM             DEFAULT  PINNED  BOOTS (7d)\n",
		buildNew + "  3.1 MiB  ", "sha256:", "no default set",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}

	if out := mustRackboot(t, append([]string{"platform", "default", buildOld}, dd...)...); out != "default platform: "+buildOld+"\n" {
		t.Errorf("default: %q", out)
	}
	show := mustRackboot(t, append([]string{"platform", "show", buildOld}, dd...)...)
	for _, want := range []string{"Build:                " + buildOld, "Default:              yes",
		"Rescue root password: " + smartostest.Password(buildOld), "MD5:                  " + smartostest.MD5(tgzOld)} {
		if !strings.Contains(show, want) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	var one api.Platform
	if err := json.Unmarshal([]byte(mustRackboot(t, append([]string{"platform", "show", buildNew, "-o", "json"}, dd...)...)), &one); err != nil ||
		one.Build != buildNew || one.RootPassword != smartostest.Password(buildNew) || one.Default {
		t.Errorf("show json: %+v %v", one, err)
	}

	// Refusals: each says why, and changes nothing.
	before := listJSON(t, dataDir)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"platform", "rm", buildOld}, "default platform"},
		{[]string{"platform", "default", "20990101T000000Z"}, "not in the catalog"},
		{[]string{"platform", "import", urlNew, "--force", "--sha256", strings.Repeat("ab", 32)}, "checksum mismatch"},
		{[]string{"platform", "import", "/nonexistent/platform-1.tgz"}, "no such file"},
		{[]string{"platform", "prune", "--keep", "-1"}, "--keep"},
		{[]string{"platform", "list", "-o", "yaml"}, "want text or json"},
	} {
		out, errOut, err := rackboot(t, append(tc.args, dd...)...)
		if err == nil || !strings.Contains(err.Error()+errOut, tc.want) {
			t.Errorf("%v: err %v, stderr %q, stdout %q; want %q", tc.args, err, errOut, out, tc.want)
		}
	}
	if after := listJSON(t, dataDir); !equalJSON(t, before, after) {
		t.Errorf("catalog changed by refused commands:\n%+v\n%+v", before, after)
	}

	mustRackboot(t, append([]string{"platform", "pin", buildNew}, dd...)...)
	if out := mustRackboot(t, append([]string{"platform", "prune", "--keep", "0"}, dd...)...); !strings.Contains(out, "nothing to prune") {
		t.Errorf("prune of a pinned and a default build: %q", out)
	}
	mustRackboot(t, append([]string{"platform", "unpin", buildNew}, dd...)...)
	var pr api.PruneResult
	if err := json.Unmarshal([]byte(mustRackboot(t, append([]string{"platform", "prune", "--keep", "0", "-o", "json"}, dd...)...)), &pr); err != nil ||
		strings.Join(pr.Removed, ",") != buildNew {
		t.Errorf("prune json: %+v %v", pr, err)
	}
	if out := mustRackboot(t, append([]string{"platform", "rm", "--force", buildOld}, dd...)...); out != "removed "+buildOld+"\n" {
		t.Errorf("rm: %q", out)
	}
	if list := listJSON(t, dataDir); len(list) != 0 {
		t.Errorf("left after rm: %+v", list)
	}
	for _, b := range []string{buildOld, buildNew} {
		if _, err := os.Stat(filepath.Join(dataDir, "smartos", b)); !os.IsNotExist(err) {
			t.Errorf("%s still on disk: %v", b, err)
		}
	}
}

func equalJSON(t *testing.T, a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// No server: the CLI opens the store itself.
func TestPlatformCLIDirect(t *testing.T) {
	t.Setenv("RACKBOOT_TOKEN", "")
	dataDir := t.TempDir()
	platformCLI(t, dataDir, smartostest.NewMirror(t))
	if _, err := os.Stat(filepath.Join(dataDir, boltstore.FileName)); err != nil {
		t.Errorf("no store in the data directory: %v", err)
	}
}

// startServeAPI builds a real server (server.New) on the data directory,
// on loopback with DHCP off, and serves its HTTP handler where serve.json
// says, as serve does; DHCP and TFTP are not run. The store stays held by
// it, as in serve, so the CLI cannot open it itself.
func startServeAPI(t *testing.T, dataDir string) (url string) {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.Interface, cfg.Advertise = "lo", "127.0.0.1"
	cfg.HTTPAddr, cfg.TFTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.DHCP.Mode = config.DHCPOff
	cfg.Memtest = config.Memtest{}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	unannounce, err := api.Announce(dataDir, ts.Listener.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unannounce)
	return ts.URL
}

// serve runs: the CLI finds it in serve.json and works through its API,
// with the same results.
func TestPlatformCLIThroughServer(t *testing.T) {
	t.Setenv("RACKBOOT_TOKEN", "")
	dataDir := t.TempDir()
	url := startServeAPI(t, dataDir)
	_, errOut, err := rackboot(t, "platform", "list", "--data-dir", dataDir)
	if err != nil || !strings.Contains(errOut, "using rackboot serve (pid ") || !strings.Contains(errOut, url) {
		t.Fatalf("list through serve: %v\n%s", err, errOut)
	}
	platformCLI(t, dataDir, smartostest.NewMirror(t))

	// Without the token file, changes are refused with a way forward.
	os.Rename(filepath.Join(dataDir, api.TokenFile), filepath.Join(dataDir, "token.moved"))
	_, _, err = rackboot(t, "platform", "default", buildNew, "--data-dir", dataDir)
	if err == nil || !strings.Contains(err.Error(), "needs the API token") {
		t.Errorf("without a token: %v", err)
	}
	// --server and --token name it explicitly.
	tok, _ := os.ReadFile(filepath.Join(dataDir, "token.moved"))
	_, _, err = rackboot(t, "platform", "pin", buildNew, "--server", url, "--token", strings.TrimSpace(string(tok)), "--data-dir", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "not in the catalog") {
		t.Errorf("pin through --server: %v (want the server's answer: not in the catalog)", err)
	}
}

// A serve.json left by a server that died is ignored.
func TestStaleServeFile(t *testing.T) {
	dataDir := t.TempDir()
	stale := `{"pid": 999999999, "api_url": "http://127.0.0.1:1"}`
	if err := os.WriteFile(filepath.Join(dataDir, api.ServeFile), []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := rackboot(t, "platform", "list", "--data-dir", dataDir)
	if err != nil || !strings.Contains(out, "no platforms yet") || strings.Contains(errOut, "using") {
		t.Errorf("stale serve.json: %q %q", out, errOut)
	}
}

// `rackboot menu` shows the catalog's default, read from the store or asked
// of the running server.
func TestMenuFollowsCatalogDefault(t *testing.T) {
	t.Setenv("RACKBOOT_TOKEN", "")
	for _, viaServer := range []bool{false, true} {
		dataDir := t.TempDir()
		if viaServer {
			startServeAPI(t, dataDir)
		}
		m := smartostest.NewMirror(t)
		for _, b := range []string{buildOld, buildNew} {
			u, _ := m.Add(t, b, 64<<10)
			mustRackboot(t, "platform", "import", u, "--data-dir", dataDir)
		}
		menu := func() string {
			return mustRackboot(t, "menu", "--mac", "52:54:00:12:34:56", "--data-dir", dataDir, "--base-url", "http://10.0.0.1")
		}
		if out := menu(); !strings.Contains(out, "choose --default smartos-"+buildNew+" ") {
			t.Errorf("server %v: no default set, menu:\n%s", viaServer, out)
		}
		mustRackboot(t, "platform", "default", buildOld, "--data-dir", dataDir)
		if out := menu(); !strings.Contains(out, "choose --default smartos-"+buildOld+" ") ||
			!strings.Contains(out, "set smartos-build "+buildOld+"\n") {
			t.Errorf("server %v: default %s, menu:\n%s", viaServer, buildOld, out)
		}
	}
}
