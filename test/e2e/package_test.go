//go:build linux

package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"rackboot/test/e2e"
)

// unitFile is the systemd unit the Debian package installs.
var unitFile = filepath.Join("..", "..", "packaging", "debian", "rackboot.service")

// unprivileged is the uid and gid the service runs as in the test: nobody,
// standing in for the package's rackboot system user.
const unprivileged = 65534

// serviceUnit is what TestPackagedServiceBootsBIOS takes from the unit.
type serviceUnit struct {
	execStart []string
	caps      []string // AmbientCapabilities, in setpriv's spelling (net_raw)
	bounding  []string // CapabilityBoundingSet, likewise
	noNewPriv bool
}

// readUnit reads [Service] ExecStart and the capability lines of a unit.
func readUnit(t *testing.T, path string) serviceUnit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var u serviceUnit
	capNames := func(v string) []string {
		var out []string
		for _, c := range strings.Fields(v) {
			out = append(out, strings.ToLower(strings.TrimPrefix(c, "CAP_")))
		}
		return out
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok || strings.HasPrefix(key, "#") {
			continue
		}
		switch key {
		case "ExecStart":
			u.execStart = strings.Fields(value)
		case "AmbientCapabilities":
			u.caps = append(u.caps, capNames(value)...)
		case "CapabilityBoundingSet":
			u.bounding = append(u.bounding, capNames(value)...)
		case "NoNewPrivileges":
			u.noNewPriv = value == "yes" || value == "true"
		}
	}
	if len(u.execStart) < 2 || u.execStart[0] != "/usr/bin/rackboot" || len(u.caps) == 0 {
		t.Fatalf("%s: ExecStart %q, AmbientCapabilities %q: not the unit this test knows", path, u.execStart, u.caps)
	}
	return u
}

// capMask is the capability set names spell, as /proc/PID/status shows it.
func capMask(t *testing.T, names []string) uint64 {
	t.Helper()
	bits := map[string]uint{"net_bind_service": 10, "net_broadcast": 11, "net_admin": 12, "net_raw": 13}
	var m uint64
	for _, n := range names {
		b, ok := bits[n]
		if !ok {
			t.Fatalf("capability %q: add it to capMask", n)
		}
		m |= 1 << b
	}
	return m
}

// procStatus is the fields of /proc/PID/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// protectSystem is the file system the unit gives the service, as far as a
// mount namespace can make it without systemd as init (it is not, here):
// ProtectSystem=strict (every mount read-only but /proc, /sys and /dev),
// ReadWritePaths= the data directory ($1), PrivateTmp (empty /tmp and
// /var/tmp) and ProtectHome (/root and /home empty and closed). It checks
// that writes outside the data directory fail (else it exits, and the
// service never starts), then execs the rest of its arguments.
//
// The test's service directory (binary, configuration, data: the data
// directory's parent) may itself lie under a directory this hides, when
// the checkout is in /tmp or /root (a CI's): it is mounted back, read-only
// but for the data, from the working directory, which still refers to it
// once hidden, and the hiding tmpfs then lets the service through to it
// (mode 0711: no listing) instead of closing it (mode 000).
const protectSystem = `set -e
data=$1; shift
svc=$(dirname "$data")
cd "$svc"
mount --make-rprivate /
mount --bind "$data" "$data"
awk '{print $2}' /proc/self/mounts | sort -u | while read -r mp; do
	case "$mp" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
	mount -o remount,bind,ro "$mp" 2>/dev/null || true
done
mount -o remount,bind,rw "$data"
for d in /tmp /var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "$d"; done
for d in /root /home; do
	if [ -d "$d" ]; then
		case "$svc/" in "$d"/*) mode=0711 ;; *) mode=000 ;; esac
		mount -t tmpfs -o mode=$mode tmpfs "$d"
	fi
done
if [ ! -d "$data" ]; then
	mkdir -p "$svc"
	mount --no-canonicalize --rbind . "$svc" # ".": the kernel resolves it from the old working directory
	mount -o remount,bind,ro "$svc"
	mount -o remount,bind,rw "$data"
fi
for d in /root /home; do
	if [ -d "$d" ] && awk -v d="$d" '$2 == d && $3 == "tmpfs" {found=1} END {exit !found}' /proc/self/mounts; then
		mount -o remount,ro "$d"
	fi
done
for probe in /etc "$(dirname "$data")" /var/lib; do
	if touch "$probe/.rackboot-rw-probe" 2>/dev/null; then
		rm -f "$probe/.rackboot-rw-probe"
		echo "protect: $probe is writable" >&2
		exit 1
	fi
done
touch "$data/.rackboot-rw-probe" && rm "$data/.rackboot-rw-probe"
exec "$@"
`

// TestPackagedServiceBootsBIOS: the capabilities the systemd unit grants
// are enough. The unit's ExecStart runs under setpriv as an unprivileged
// user with exactly the unit's capabilities (ambient, inheritable and
// bounding) and no_new_privs, on the package's default configuration with
// the boot network named (privileged ports: DHCP 67 and 4011, TFTP 69,
// HTTP 80), and a BIOS machine boots SmartOS from it. The router
// advertisement responder, which needs CAP_NET_RAW, must be up too. It runs
// in the file system the unit's ProtectSystem=strict, ReadWritePaths,
// PrivateTmp and ProtectHome make (protectSystem). Then
// SIGHUP, as systemctl reload sends it, changes the menu's title at once.
func TestPackagedServiceBootsBIOS(t *testing.T) {
	t.Parallel() // VMs mostly wait (iPXE, DHCP): boots overlap well on 2 cores
	e2e.RequireVM(t)
	e2e.RequireCommands(t, "setpriv", "dnsmasq")
	bin := needRackboot(t)
	unit := readUnit(t, unitFile)
	ctx := testContext(t, bootTimeout)
	l := &rackbootLab{Lab: e2e.NewLab(t)}

	// What the package installs, where the unprivileged user can read it:
	// the binary, the configuration, and a data directory it owns.
	// Not under /tmp, which the unit's PrivateTmp hides.
	root := filepath.Join(l.Out, "service")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	installed := filepath.Join(root, "rackboot")
	b, err := os.ReadFile(bin)
	if err == nil {
		err = os.WriteFile(installed, b, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(root, "data")
	l.previous = e2e.MakePlatform(t, data, oldBuild)
	l.newest = e2e.MakePlatform(t, data, newBuild)
	if err := os.Chown(data, unprivileged, unprivileged); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(data, 0o750); err != nil {
		t.Fatal(err)
	}

	// The packaged configuration as an admin edits it: name the boot
	// network, point data_dir at the test's, shorten the menu's wait, set
	// SmartOS's root password.
	pkgConf, err := os.ReadFile(filepath.Join("..", "..", "packaging", "debian", "rackboot.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(pkgConf)
	for old, repl := range map[string]string{
		"data_dir: /var/lib/rackboot": "data_dir: " + data,
		"timeout: 30s":                "timeout: 2s",
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("packaged configuration has no %q", old)
		}
		conf = strings.Replace(conf, old, repl, 1)
	}
	conf += fmt.Sprintf("interface: %s\nadvertise: %s\nsmartos:\n  root_password: %q\n", e2e.Bridge, l.ServerIP, rootPassword)
	confPath := filepath.Join(root, "rackboot.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	l.AddLog("rackboot config", confPath, false)

	// ExecStart, with the binary and the configuration file where the
	// test put them.
	argv := append([]string{installed}, unit.execStart[1:]...)
	for i, a := range argv {
		if a == "/etc/rackboot/rackboot.yaml" {
			argv[i] = confPath
		}
	}
	caps := "-all,+" + strings.Join(unit.caps, ",+")
	setpriv := []string{"setpriv", "--reuid", strconv.Itoa(unprivileged), "--regid", strconv.Itoa(unprivileged), "--clear-groups",
		"--inh-caps", caps, "--ambient-caps", caps, "--bounding-set", "-all,+" + strings.Join(unit.bounding, ",+")}
	if unit.noNewPriv {
		setpriv = append(setpriv, "--no-new-privs")
	}
	setpriv = append(setpriv, "--")

	l.dhcp = e2e.StartDnsmasq(ctx, t, l.Lab, l.AddHost(t, "dhcp", l.Addr(2)), e2e.PlainRouter())
	sandbox := []string{"unshare", "--mount", "sh", "-c", protectSystem, "protect", data}
	rb := l.Start(t, l.Server, "rackboot", slices.Concat(sandbox, setpriv, argv)...)
	url := fmt.Sprintf("http://%s/healthz", l.ServerIP) // http_addr :80, the packaged default
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ready := make(chan error, 1)
	go func() { ready <- e2e.WaitHTTP(wctx, l.Server, url, 200) }()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("rackboot under the unit's capabilities did not become ready: %v", err)
		}
	case <-rb.Done():
		_, code := rb.Exited()
		t.Fatalf("rackboot under the unit's capabilities exited with status %d during start-up:\n%s", code, rb.Output())
	}

	// It is what the unit says: not root, exactly the capabilities.
	st := procStatus(t, rb.Pid())
	want := capMask(t, unit.caps)
	wantUID := fmt.Sprintf("%d\t%[1]d\t%[1]d\t%[1]d", unprivileged)
	if st["Uid"] != wantUID {
		t.Errorf("rackboot runs as uid %q, want %q", st["Uid"], wantUID)
	}
	for _, field := range []string{"CapEff", "CapPrm", "CapAmb"} {
		if got, _ := strconv.ParseUint(st[field], 16, 64); got != want {
			t.Errorf("%s %s, want %016x (%s)", field, st[field], want, strings.Join(unit.caps, ","))
		}
	}
	if got, _ := strconv.ParseUint(st["CapBnd"], 16, 64); got != capMask(t, unit.bounding) {
		t.Errorf("CapBnd %s, want %016x", st["CapBnd"], capMask(t, unit.bounding))
	}
	if unit.noNewPriv && st["NoNewPrivs"] != "1" {
		t.Errorf("NoNewPrivs %q", st["NoNewPrivs"])
	}

	vm := l.Boot(ctx, t, e2e.BIOS, "bios")
	vm.WaitBoot(ctx, t, e2e.KernelDone)
	checkSmartOSBoot(t, vm, smartOSBoot{fx: l.newest, password: rootPassword})
	checkNoLoop(t, vm, 2)

	// systemctl reload (the unit's ExecReload: SIGHUP): the menu's title
	// changes at once, a TFTP limit is named as needing a restart.
	reloaded := strings.Replace(conf, "title: rackboot", "title: rack7 reloaded", 1) + "tftp:\n  max_transfers: 100\n"
	if err := os.WriteFile(confPath, []byte(reloaded), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(rb.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(rb.Output(), "configuration reloaded") && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{"applied=[menu.title]", "keys=[tftp.max_transfers]"} {
		if !strings.Contains(rb.Output(), want) {
			t.Errorf("after SIGHUP the log lacks %s", want)
		}
	}
	menuURL := fmt.Sprintf("http://%s/boot.ipxe?mac=52:54:00:00:00:01&arch=bios", l.ServerIP)
	resp, err := l.Server.HTTPClient().Get(menuURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "rack7 reloaded") {
		t.Errorf("menu after SIGHUP has not the new title:\n%s", body)
	}

	// Every socket opened with the unit's capabilities: the router
	// advertisement responder's raw ICMPv6 one too (CAP_NET_RAW).
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(rb.Output(), "answering router solicitations") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	log := rb.Output()
	for _, bad := range []string{"not answering IPv6 router solicitations", "permission denied", "runs as root",
		"read-only file system"} {
		if strings.Contains(log, bad) {
			t.Errorf("rackboot's log says %q under the unit's capabilities", bad)
		}
	}
	if !strings.Contains(log, "answering router solicitations") {
		t.Error("the router advertisement responder did not start under the unit's capabilities")
	}
}
