package e2e_test

import (
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"rackboot/test/e2e"
)

// TestSeedStackLoops shows the failure rackboot exists to prevent: the seed
// blog's network (a DHCP server handing every PXE client next-server and
// undionly.kpxe, and a plain TFTP server with Debian's iPXE) makes iPXE load
// itself over and over. It passes when the loop is seen, which proves that
// these tests can tell a loop from a boot.
func TestSeedStackLoops(t *testing.T) {
	t.Parallel() // VMs mostly wait (iPXE, DHCP): boots overlap well on 2 cores
	e2e.RequireVM(t)
	e2e.RequireCommands(t, "dnsmasq", "in.tftpd")
	const window = 180 * time.Second // measured: a new cycle every ~15 s under TCG, slower beside other VMs
	const cycles = 3
	ctx := testContext(t, window+time.Minute)
	lab := e2e.NewLab(t)
	tftpRoot := filepath.Join(lab.Out, "tftp")
	e2e.CopyIPXE(t, tftpRoot)
	e2e.StartTFTPD(ctx, t, lab, lab.ServerIP, tftpRoot)
	dhcp := e2e.StartDnsmasq(ctx, t, lab, lab.AddHost(t, "dhcp", lab.Addr(2)), e2e.SeedStyle(lab.ServerIP))

	vm := lab.Boot(ctx, t, e2e.BIOS, "bios")
	tftpLoads := regexp.MustCompile(`tftp://\S+/undionly\.kpxe\.\.\. ok`)
	wctx := testContext(t, window)
	err := e2e.WaitUntil(wctx, func() bool {
		return vm.Count(e2e.IPXEBanner) >= cycles && dhcp.Acks(vm.MAC) >= cycles && vm.Count(tftpLoads) >= cycles-1
	})
	took := time.Since(vm.Started).Round(100 * time.Millisecond)
	starts, acks, loads := vm.Count(e2e.IPXEBanner), dhcp.Acks(vm.MAC), vm.Count(tftpLoads)
	t.Logf("after %s: %d iPXE starts, %d DHCPACKs from the seed-style server, %d TFTP loads of undionly.kpxe", took, starts, acks, loads)
	if err != nil {
		t.Fatalf("no loop within %s (want >= %d iPXE starts and DHCPACKs): the seed stack should make iPXE chainload itself forever", window, cycles)
	}
	if vm.Count(e2e.KernelDone) > 0 {
		t.Fatal("something booted; the seed stack has no boot menu to offer")
	}
	t.Logf("loop shown: %d iPXE cycles in %s", cycles, took)
}
