package e2e_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/GehirnInc/crypt/sha256_crypt"

	"rackboot/test/e2e"
)

// Values every rackboot configuration in these tests uses.
const (
	rootPassword = "rbk-e2e-Secret"
	newBuild     = "20250214T000000Z" // the newest platform: the default item
	oldBuild     = "20240530T000000Z"
)

var bootArgs = [][2]string{{"rbk_e2e", "yes"}}

// testContext is a context that ends at d or shortly before the test binary's
// deadline, whichever comes first, so cleanups still run on a timeout.
func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	deadline := time.Now().Add(d)
	if dl, ok := t.Deadline(); ok && dl.Add(-30*time.Second).Before(deadline) {
		deadline = dl.Add(-30 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

// smartOSBoot is what a SmartOS boot of a fixture must look like.
type smartOSBoot struct {
	fx          e2e.Fixture
	password    string      // root_password the shadow must hash ("" = don't check)
	bootArgs    [][2]string // extra -B pairs that must be present
	requireHash bool        // boot_archive.hash must be module 1
}

// The -B prefix the seed's menu uses and rackboot must produce.
var seedBootArgs = regexp.MustCompile(`(?:^| )-B console=text,root_shadow='(\$5\$[^']+)',smartos=true(?:,|$| )`)

// checkSmartOSBoot parses the test kernel's report from vm's console and
// checks it against want: kernel URL, -B arguments, root password, modules.
func checkSmartOSBoot(t *testing.T, vm *e2e.VM, want smartOSBoot) e2e.KernelReport {
	t.Helper()
	r, err := e2e.ParseKernelReport(vm.Text())
	if err != nil {
		t.Fatalf("test kernel report: %v", err)
	}
	t.Logf("kernel cmdline: %s", r.Cmdline)
	for _, m := range r.Modules {
		t.Logf("module %d: %s (%d bytes, crc32 %08x)", m.Index, m.Name, m.Size, m.CRC32)
	}

	url, args := e2e.KernelCmdlineArgs(r.Cmdline)
	if !strings.HasPrefix(url, "http://") || !strings.HasSuffix(url, want.fx.Kernel.URLPath) {
		t.Errorf("kernel command line starts with %q, want the URL of %s over HTTP", url, want.fx.Kernel.URLPath)
	}
	m := seedBootArgs.FindStringSubmatch(args)
	if m == nil {
		t.Errorf("kernel arguments %q lack %q", args, "-B console=text,root_shadow='$5$...',smartos=true")
	} else if want.password != "" {
		if err := sha256_crypt.New().Verify(m[1], []byte(want.password)); err != nil {
			t.Errorf("root_shadow %q does not hash the configured root_password: %v", m[1], err)
		}
	}
	for _, kv := range want.bootArgs {
		if !regexp.MustCompile(`[ ,]` + regexp.QuoteMeta(kv[0]+"="+kv[1]) + `(,| |$)`).MatchString(args) {
			t.Errorf("kernel arguments %q lack boot arg %s=%s", args, kv[0], kv[1])
		}
	}

	if len(r.Modules) == 0 {
		t.Fatalf("no modules: boot_archive was not loaded")
	}
	checkModule(t, r.Modules[0], want.fx.Archive)
	switch {
	case len(r.Modules) > 1:
		checkModule(t, r.Modules[1], want.fx.Hash)
	case want.requireHash:
		t.Errorf("boot_archive.hash was not loaded as module 1")
	default:
		t.Logf("boot_archive.hash not passed as a module")
	}
	if len(r.Modules) > 2 {
		t.Errorf("unexpected modules after boot_archive.hash: %+v", r.Modules[2:])
	}
	if code, err := vm.ExitCode(10 * time.Second); err != nil || code != 33 {
		t.Errorf("QEMU exit: status %d, %v (want 33: the test kernel's isa-debug-exit)", code, err)
	}
	return r
}

func checkModule(t *testing.T, m e2e.KernelModule, f e2e.FixtureFile) {
	t.Helper()
	if !strings.HasSuffix(m.URL(), f.URLPath) {
		t.Errorf("module %d is %q, want %s", m.Index, m.URL(), f.URLPath)
		return
	}
	if m.Size != f.Size || m.CRC32 != f.CRC32 {
		t.Errorf("module %d (%s): %d bytes crc32 %08x, want %d bytes crc32 %08x",
			m.Index, f.URLPath, m.Size, m.CRC32, f.Size, f.CRC32)
	}
}

// checkNoLoop fails t if iPXE started more than max times on vm's console.
func checkNoLoop(t *testing.T, vm *e2e.VM, max int) {
	t.Helper()
	n := vm.Count(e2e.IPXEBanner)
	t.Logf("%s: %d iPXE start(s), %d iPXE DHCP configuration(s)", vm.Name, n, vm.Count(e2e.IPXEDHCP))
	if n > max {
		t.Errorf("%s: iPXE started %d times (at most %d expected): a chainload loop", vm.Name, n, max)
	}
}

// memtestRunning matches memtest86+'s own screen on the serial console: its
// title and its first status line (a menu item's title alone does not match).
var memtestRunning = regexp.MustCompile(`(?s)Memtest86\+ v\d.*CLK/Temp:`)

// memtestLoaded matches iPXE's line for a finished download of memtest86+.
var memtestLoaded = regexp.MustCompile(`http://\S*memtest\S*\.efi\.\.\. ok`)

// waitMemtest waits for memtest86+ to run on vm, and logs both when iPXE had
// downloaded it and when it drew its screen: under emulation memtest86+ spends
// tens of seconds measuring the machine before it draws anything.
func waitMemtest(ctx context.Context, t *testing.T, vm *e2e.VM) {
	t.Helper()
	if _, err := vm.WaitFor(ctx, memtestLoaded); err == nil {
		t.Logf("%s: memtest86+ downloaded after %s", vm.Name, time.Since(vm.Started).Round(100*time.Millisecond))
	}
	vm.WaitBoot(ctx, t, memtestRunning)
}
