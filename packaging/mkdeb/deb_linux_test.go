package main

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// requiredEnv makes a missing tool or root a failure instead of a skip
// (make unit sets it).
const requiredEnv = "RACKBOOT_PACKAGING_REQUIRED"

func require(t *testing.T, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv(requiredEnv) != "" {
		t.Fatalf("%s (%s is set)", what, requiredEnv)
	}
	t.Skipf("%s (set %s=1 to fail instead)", what, requiredEnv)
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		_, err := exec.LookPath(tool)
		require(t, err == nil, tool+" not found (apt-get install it; Makefile TEST_DEPS)")
	}
}

// repoRoot is the repository root, from this package's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func run(t *testing.T, dir string, env []string, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// buildRackboot links rackboot for GOARCH arch as the Makefile does, with
// version and commit set.
func buildRackboot(t *testing.T, out, arch, version string) string {
	t.Helper()
	bin := filepath.Join(out, "linux_"+arch, "rackboot")
	ld := fmt.Sprintf("-X rackboot/internal/version.Version=%s -X rackboot/internal/version.Commit=c0ffee123456 "+
		"-X rackboot/internal/version.Date=2026-12-06T08:00:00Z", version)
	run(t, repoRoot(t), []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + arch},
		"go", "build", "-trimpath", "-ldflags", ld, "-o", bin, "./cmd/rackboot")
	return bin
}

// pkg builds the packages for version: amd64 and arm64 like make package.
func pkg(t *testing.T, dir, version string, arches ...string) map[string]string {
	t.Helper()
	host := buildRackboot(t, filepath.Join(dir, "host"), runtime.GOARCH, version)
	docs, err := generateDocs(host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(docs) })
	root := repoRoot(t)
	o := options{Version: version, DocsFrom: host, Docs: docs, Source: filepath.Join(root, "packaging"),
		Readme: filepath.Join(root, "README.md"), Out: filepath.Join(dir, "dist")}
	debs := map[string]string{}
	for _, arch := range arches {
		bin := host
		if arch != runtime.GOARCH {
			bin = buildRackboot(t, filepath.Join(dir, version), arch, version)
		}
		path, err := build(o, arch, bin)
		if err != nil {
			t.Fatal(err)
		}
		debs[arch] = path
	}
	return debs
}

// newRoot is an empty system for dpkg --root: dpkg's database and the
// account files base-passwd would install.
func newRoot(t *testing.T) string {
	t.Helper()
	r := t.TempDir()
	for _, d := range []string{"etc", "var/lib/dpkg/info", "var/lib/dpkg/updates", "usr/bin", "usr/sbin"} {
		if err := os.MkdirAll(filepath.Join(r, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{
		"var/lib/dpkg/status": "", "var/lib/dpkg/available": "",
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n",
		"etc/shadow": "root:*:20000:0:99999:7:::\n", "etc/gshadow": "root:*::\n",
	} {
		if err := os.WriteFile(filepath.Join(r, name), []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// dpkg runs dpkg on root. The maintainer scripts run chrootless with
// DPKG_ROOT set (they honour it): an empty root has no /bin/sh to chroot
// into. The Depends (ipxe) are not in the empty root: the control test
// checks them instead.
func dpkg(t *testing.T, root string, args ...string) string {
	t.Helper()
	return run(t, "", nil, append([]string{"dpkg", "--root=" + root, "--force-script-chrootless", "--force-depends"}, args...)...)
}

type fileState struct {
	mode     os.FileMode
	uid, gid int
}

func stat(t *testing.T, path string) fileState {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fileState{fi.Mode(), int(st.Uid), int(st.Gid)}
}

// account is NAME's entry in root's passwd (or group): its fields.
func account(t *testing.T, root, db, name string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "etc", db))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Split(sc.Text(), ":"); fields[0] == name {
			return fields
		}
	}
	t.Fatalf("no %s in %s/etc/%s", name, root, db)
	return nil
}

// TestDebianPackage builds the packages as make package does, installs
// one into a throwaway root with dpkg, and checks what an admin relies on:
// the files and their owners and modes, the system user, a conffile kept
// across an upgrade, the data kept by remove and deleted by purge, and a
// unit systemd accepts.
func TestDebianPackage(t *testing.T) {
	require(t, os.Geteuid() == 0, "needs root (dpkg --root chowns to the rackboot user)")
	requireTools(t, "go", "dpkg", "dpkg-deb", "useradd", "groupadd", "systemd-analyze", "unshare")
	dir := t.TempDir()
	v1 := pkg(t, dir, "v1.2.0", "amd64", "arm64")
	v2 := pkg(t, dir, "v1.3.0-2-gabc1234", runtime.GOARCH)

	t.Run("control", func(t *testing.T) {
		for arch, deb := range v1 {
			if want := filepath.Join(dir, "dist", "rackboot_1.2.0_"+arch+".deb"); deb != want {
				t.Errorf("package path %s, want %s", deb, want)
			}
			for field, want := range map[string]string{"Package": "rackboot", "Version": "1.2.0", "Architecture": arch,
				"Depends": "ipxe", "Recommends": "memtest86+", "Section": "net"} {
				if got := strings.TrimSpace(run(t, "", nil, "dpkg-deb", "-f", deb, field)); got != want {
					t.Errorf("%s: %s: %q, want %q", arch, field, got, want)
				}
			}
			ctl := t.TempDir()
			run(t, "", nil, "dpkg-deb", "-e", deb, ctl)
			if b, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); strings.TrimSpace(string(b)) != configPath {
				t.Errorf("%s: conffiles %q, want %s", arch, b, configPath)
			}
			// The binary inside is the architecture's.
			x := t.TempDir()
			run(t, "", nil, "dpkg-deb", "-x", deb, x)
			f, err := elf.Open(filepath.Join(x, "usr/bin/rackboot"))
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
			if f.Machine != want {
				t.Errorf("%s: /usr/bin/rackboot is for %v, want %v", arch, f.Machine, want)
			}
			f.Close()
		}
	})

	root := newRoot(t)
	dpkg(t, root, "-i", v1[runtime.GOARCH])
	r := func(p string) string { return filepath.Join(root, p) }
	user := account(t, root, "passwd", "rackboot")
	group := account(t, root, "group", "rackboot")
	uid, _ := strconv.Atoi(user[2])
	gid, _ := strconv.Atoi(group[2])

	t.Run("files", func(t *testing.T) {
		if uid == 0 || uid >= 1000 || user[5] != "/var/lib/rackboot" || user[6] != "/usr/sbin/nologin" || user[3] != group[2] {
			t.Errorf("rackboot user %q: want a system uid (1-999), its own group, home /var/lib/rackboot, no login shell", user)
		}
		for path, want := range map[string]fileState{
			"/usr/bin/rackboot":                 {0o755, 0, 0},
			unitPath:                            {0o644, 0, 0},
			configPath:                          {0o640, 0, gid},
			"/etc/rackboot":                     {0o750 | os.ModeDir, 0, gid},
			"/var/lib/rackboot":                 {0o750 | os.ModeDir, uid, gid},
			"/usr/share/man/man1/rackboot.1.gz": {0o644, 0, 0},
			"/usr/share/man/man1/rackboot-serve.1.gz":            {0o644, 0, 0},
			"/usr/share/man/man1/rackboot-version.1.gz":          {0o644, 0, 0},
			"/usr/share/bash-completion/completions/rackboot":    {0o644, 0, 0},
			"/usr/share/zsh/vendor-completions/_rackboot":        {0o644, 0, 0},
			"/usr/share/fish/vendor_completions.d/rackboot.fish": {0o644, 0, 0},
			"/usr/share/doc/rackboot/README.md":                  {0o644, 0, 0},
		} {
			if got := stat(t, r(path)); got != want {
				t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", path, got.mode, got.uid, got.gid, want.mode, want.uid, want.gid)
			}
		}
		out := run(t, "", nil, r("/usr/bin/rackboot"), "version")
		for _, want := range []string{"rackboot v1.2.0", "c0ffee123456", runtime.Version(), "2026-12-06T08:00:00Z"} {
			if !strings.Contains(out, want) {
				t.Errorf("rackboot version lacks %q:\n%s", want, out)
			}
		}
		if b, _ := os.ReadFile(r("/usr/share/bash-completion/completions/rackboot")); !strings.Contains(string(b), "__start_rackboot") {
			t.Errorf("bash completion is not cobra's for rackboot:\n%.200s", b)
		}
	})

	t.Run("default config answers nothing", func(t *testing.T) {
		// In an empty network namespace, so that nothing could be answered
		// even if it tried.
		cmd := exec.Command("unshare", "-n", r("/usr/bin/rackboot"), "serve", "--config", r(configPath), "--data-dir", t.TempDir())
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "say which network the machines boot on") {
			t.Errorf("serve with the packaged configuration: %v, want a refusal naming --interface:\n%s", err, out)
		}
	})

	t.Run("unit", func(t *testing.T) {
		// systemd-analyze verify checks that ExecStart's binary and the
		// man page in Documentation= exist: let it see the installed
		// ones over the host's, in a mount namespace of its own.
		script := fmt.Sprintf("mount --make-rprivate / && "+
			"mount -t overlay overlay -o lowerdir=%[1]s/usr/bin:/usr/bin /usr/bin && "+
			"mount -t overlay overlay -o lowerdir=%[1]s/usr/share/man/man1:/usr/share/man/man1 /usr/share/man/man1 && "+
			"exec systemd-analyze verify %[1]s%[2]s", root, unitPath)
		cmd := exec.Command("unshare", "-m", "sh", "-c", script)
		out, err := cmd.CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
		out, _ = exec.Command("systemd-analyze", "security", "--offline=yes", r(unitPath)).CombinedOutput()
		t.Logf("systemd-analyze security: %s", lastLine(string(out)))
	})

	t.Run("upgrade keeps config and data", func(t *testing.T) {
		edited := "interface: eth9\n"
		if err := os.WriteFile(r(configPath), []byte(edited), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(r("/var/lib/rackboot/api-token"), []byte("secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		dpkg(t, root, "-i", v2[runtime.GOARCH])
		if got := strings.TrimSpace(run(t, "", nil, "dpkg-query", "--root="+root, "-W", "-f=${Version}", "rackboot")); got != "1.3.0+git2.gabc1234" {
			t.Errorf("installed version %q after the upgrade", got)
		}
		if b, _ := os.ReadFile(r(configPath)); string(b) != edited {
			t.Errorf("upgrade replaced the edited conffile: %q", b)
		}
		if _, err := os.Stat(r("/var/lib/rackboot/api-token")); err != nil {
			t.Errorf("upgrade lost the data: %v", err)
		}
		if got := account(t, root, "passwd", "rackboot"); got[2] != user[2] {
			t.Errorf("upgrade changed the rackboot uid: %s, was %s", got[2], user[2])
		}
		if got := stat(t, r("/var/lib/rackboot")); got.uid != uid {
			t.Errorf("/var/lib/rackboot owned by %d after the upgrade", got.uid)
		}
	})

	t.Run("a deleted conffile stays deleted", func(t *testing.T) {
		if err := os.Remove(r(configPath)); err != nil {
			t.Fatal(err)
		}
		dpkg(t, root, "-i", v2[runtime.GOARCH]) // postinst must not fail on it
		if _, err := os.Stat(r(configPath)); !os.IsNotExist(err) {
			t.Errorf("reinstall brought back the deleted conffile: %v", err)
		}
	})

	t.Run("remove keeps, purge deletes", func(t *testing.T) {
		dpkg(t, root, "-r", "rackboot")
		if _, err := os.Stat(r("/usr/bin/rackboot")); !os.IsNotExist(err) {
			t.Errorf("remove left /usr/bin/rackboot: %v", err)
		}
		for _, p := range []string{"/etc/rackboot", "/var/lib/rackboot/api-token"} {
			if _, err := os.Stat(r(p)); err != nil {
				t.Errorf("remove deleted %s: %v", p, err)
			}
		}
		dpkg(t, root, "-P", "rackboot")
		for _, p := range []string{"/etc/rackboot", "/var/lib/rackboot"} {
			if _, err := os.Stat(r(p)); !os.IsNotExist(err) {
				t.Errorf("purge left %s: %v", p, err)
			}
		}
	})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
