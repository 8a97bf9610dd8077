package e2e_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"rackboot/test/e2e"
)

// TestRABootTime boots a BIOS and a UEFI machine through rackboot with
// ipv6.ra auto and with off, in four labs at once, and prints the times from
// power-on to the SmartOS kernel (BIOS) and to memtest86+ downloaded (UEFI;
// memtest's own start-up under emulation is not the boot server's). With
// auto, rackboot answers iPXE's router solicitations with an advertisement
// that configures nothing, and iPXE stops waiting (~13 s) for an IPv6
// router; the test asserts only that the machine got our advertisement and
// booted (no timing threshold: TCG times vary). A Linux host on each auto
// lab's link keeps no default route and no global address.
func TestRABootTime(t *testing.T) {
	e2e.RequireFiles(t, "/boot/memtest86+x64.efi")
	var (
		mu   sync.Mutex
		took = map[string]time.Duration{}
	)
	t.Run("labs", func(t *testing.T) {
		for _, fw := range []e2e.Firmware{e2e.BIOS, e2e.UEFI} {
			for _, mode := range []string{"auto", "off"} {
				t.Run(string(fw)+"-"+mode, func(t *testing.T) {
					t.Parallel()
					ctx := testContext(t, bootTimeout)
					cfg := configFor("")
					if fw == e2e.UEFI {
						cfg = configFor("memtest")
					}
					cfg.IPv6RA = mode
					l := newRackbootLab(t, "proxy", plainDHCP, cfg)
					host := l.AddHost(t, "h6", l.Addr(3)) // a Linux host on the link
					vm := l.Boot(ctx, t, fw, string(fw)+"-ra-"+mode)
					var d time.Duration
					if fw == e2e.UEFI {
						d = vm.WaitBoot(ctx, t, memtestLoaded)
					} else {
						d = vm.WaitBoot(ctx, t, e2e.KernelDone)
					}
					mu.Lock()
					took[string(fw)+"-"+mode] = d
					mu.Unlock()

					answered, ok := raMetric(ctx, t, l.rb, "rackboot_ra_answered_total")
					switch mode {
					case "auto":
						if !ok || answered < 1 {
							t.Errorf("ipv6.ra auto: rackboot_ra_answered_total = %v (present %v), want > 0", answered, ok)
						}
					case "off":
						if ok {
							t.Errorf("ipv6.ra off: rackboot_ra_answered_total present (%v): a responder ran", answered)
						}
					}
					if out := l.Exec(t, host.NS, "ip", "-6", "route", "show", "default"); strings.TrimSpace(out) != "" {
						t.Errorf("the Linux host took a default route: %s", out)
					}
					if out := l.Exec(t, host.NS, "ip", "-6", "addr", "show", "scope", "global"); strings.TrimSpace(out) != "" {
						t.Errorf("the Linux host took a global address: %s", out)
					}
				})
			}
		}
	})
	t.Logf("BIOS power-on to the SmartOS kernel: ipv6.ra auto %s, off %s; UEFI power-on to memtest86+ downloaded: auto %s, off %s (%s)",
		took["bios-auto"], took["bios-off"], took["uefi-auto"], took["uefi-off"], e2e.Accel())
}

// raMetric reads one unlabelled sample from rackboot's /metrics.
func raMetric(ctx context.Context, t *testing.T, rb *e2e.Rackboot, name string) (float64, bool) {
	t.Helper()
	code, body, err := rb.Get(ctx, "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("/metrics: %d %v", code, err)
	}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// TestRASilentBesideRouter: with a real IPv6 router on the link (radvd,
// default lifetime 1800 s and a prefix), rackboot with ipv6.ra auto hears it,
// stays silent and sends no advertisement while a BIOS machine boots.
func TestRASilentBesideRouter(t *testing.T) {
	t.Parallel()
	e2e.RequireCommands(t, "radvd")
	ctx := testContext(t, bootTimeout)
	cfg := configFor("")
	cfg.IPv6RA = "auto"
	l := newRackbootLab(t, "proxy", plainDHCP, cfg)
	rtr := l.AddHost(t, "rtr", l.Addr(4))
	conf := filepath.Join(l.Out, "radvd.conf")
	err := os.WriteFile(conf, []byte("interface eth0 {\n  AdvSendAdvert on;\n  AdvDefaultLifetime 1800;\n"+
		"  MinRtrAdvInterval 3;\n  MaxRtrAdvInterval 10;\n  prefix 2001:db8:1::/64 {};\n};\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	l.Exec(t, rtr.NS, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	l.Start(t, rtr.NS, "radvd", "radvd", "-n", "-C", conf, "-p", filepath.Join(l.Out, "radvd.pid"), "-m", "stderr")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if v, _ := raMetric(ctx, t, l.rb, "rackboot_ra_silent"); v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("rackboot did not hear radvd's advertisements in 30 s (rackboot_ra_silent != 1)")
		}
		time.Sleep(200 * time.Millisecond)
	}
	vm := l.Boot(ctx, t, e2e.BIOS, "bios-ra-router")
	vm.WaitBoot(ctx, t, e2e.KernelDone)
	if v, ok := raMetric(ctx, t, l.rb, "rackboot_ra_answered_total"); !ok || v != 0 {
		t.Errorf("rackboot_ra_answered_total = %v (present %v), want 0 beside a real router", v, ok)
	}
	supp, _ := raMetric(ctx, t, l.rb, "rackboot_ra_suppressed_by_router_total")
	t.Logf("solicitations left to radvd: %v", supp)
}
