//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RequiredEnv names the environment variable that turns every "cannot run
// here" skip into a failure. CI sets it so that a broken runner (no root, no
// QEMU) cannot make the end-to-end suite pass by skipping it.
const RequiredEnv = "RACKBOOT_E2E_REQUIRED"

// Required reports whether RACKBOOT_E2E_REQUIRED asks for the suite to run.
func Required() bool {
	v := os.Getenv(RequiredEnv)
	return v != "" && v != "0" && v != "false"
}

// unavailable skips t, or fails it when the suite is required to run.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (%s=1 makes this a failure instead of a skip)", msg, RequiredEnv)
	}
	t.Skipf("%s; skipping (set %s=1 to make this fail instead)", msg, RequiredEnv)
}

// RequireRoot needs root: namespaces, bridges and taps need CAP_NET_ADMIN.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		unavailable(t, "end-to-end tests need root (network namespaces, bridges, taps)")
	}
}

// RequireCommands needs every named program on PATH.
func RequireCommands(t testing.TB, names ...string) {
	t.Helper()
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		unavailable(t, "missing programs: %s (Debian: apt-get install qemu-system-x86 ovmf ipxe ipxe-qemu memtest86+ dnsmasq tftpd-hpa busybox iproute2 gcc)", strings.Join(missing, ", "))
	}
}

// RequireFiles needs every named file to exist.
func RequireFiles(t testing.TB, paths ...string) {
	t.Helper()
	var missing []string
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		unavailable(t, "missing files: %s", strings.Join(missing, ", "))
	}
}

// RequireVM needs what every QEMU boot test needs: root, ip, QEMU, and a run
// without -short (boots take tens of seconds under software emulation).
func RequireVM(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a virtual machine; skipped with -short")
	}
	RequireRoot(t)
	RequireCommands(t, "ip", QEMUBinary)
}
