//go:build linux

// Package boot_test is the single-machine boot benchmark (make bench-boot):
// one BIOS and one UEFI QEMU machine booted, one at a time, through the seed
// blog's stack and through rackboot, in network namespaces, and the time
// from power-on to the SmartOS kernel (BIOS) or to memtest86+ downloaded
// (UEFI) compared. It writes BENCHMARKS.md's boot section and
// bench/results/boot.json.
//
// It is a Go test only to use test/e2e's labs, QEMU machines and peers,
// whose helpers take a testing.TB; it does nothing unless
// RACKBOOT_BENCH_BOOT=1, and `make unit` does not list it.
package boot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"rackboot/bench/internal/host"
	"rackboot/test/e2e"
)

const (
	enableEnv = "RACKBOOT_BENCH_BOOT"      // 1 runs the benchmark
	runsEnv   = "RACKBOOT_BENCH_BOOT_RUNS" // runs per stack and firmware (3)
	build     = "20250214T000000Z"
	// menuTimeout is both stacks' menu timeout: the e2e tests' value, so the
	// figures compare the servers, not an operator's choice of countdown
	// (rackboot's default and the seed's bootstrap.ipxe both wait 30 s).
	menuTimeout = time.Second
)

// memtestLoaded is iPXE's line for a finished download of memtest86+: the
// end of a UEFI boot as far as the boot server is concerned (memtest's own
// start-up under emulation takes tens of seconds more, and is not ours).
var memtestLoaded = regexp.MustCompile(`http://\S*memtest\S*\.efi\.\.\. ok`)

// A stack is a boot network under test: start brings up its servers in a
// new lab, for a machine of firmware fw, and returns rackboot if it runs
// one (its timeline is read after the boot).
type stack struct {
	name, title string
	start       func(ctx context.Context, t *testing.T, l *e2e.Lab, data string, fw e2e.Firmware) *e2e.Rackboot
}

var stacks = []stack{
	{"seed", "seed stack: dnsmasq (iPXE user-class hack) + tftpd-hpa + nginx + hand-written bootstrap.ipxe", startSeed},
	{"rackboot", "rackboot proxyDHCP beside the same dnsmasq (no boot options), defaults (ipv6.ra auto)", startProxy},
	{"rackboot-full", "rackboot as the only DHCP server (dhcp.mode full), defaults", startFull},
}

// Run is one boot.
type Run struct {
	Stack    string  `json:"stack"`
	Firmware string  `json:"firmware"`
	Run      int     `json:"run"`
	Seconds  float64 `json:"seconds"` // power-on to the success line
	Stages   []Stage `json:"stages"`
	// Timeline is rackboot's own account of the boot: its event
	// timeline's stages (GET /api/v1/machines/{mac}); none for the seed.
	Timeline []Stage `json:"timeline,omitempty"`
	Load     string  `json:"load"` // /proc/loadavg before the boot
}

// Stage is one stage of a boot from the client's wire (e2e.WireStages).
type Stage struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Results is bench/results/boot.json.
type Results struct {
	Date      time.Time `json:"date"`
	CPUs      int       `json:"cpus"`
	Accel     string    `json:"accel"`
	LoadStart string    `json:"load_start"`
	LoadEnd   string    `json:"load_end"`
	Runs      []Run     `json:"runs"`
}

func TestBootTimes(t *testing.T) {
	if os.Getenv(enableEnv) != "1" {
		t.Skipf("a benchmark: run it with make bench-boot (%s=1, root)", enableEnv)
	}
	e2e.RequireVM(t)
	e2e.RequireCommands(t, "dnsmasq", "in.tftpd", "nginx")
	e2e.RequireFiles(t, "/boot/memtest86+x64.efi", filepath.Join(e2e.IPXEDir, "snponly.efi"))
	runs := 3
	if n, err := strconv.Atoi(os.Getenv(runsEnv)); err == nil && n > 0 {
		runs = n
	}
	bin, err := e2e.BuildRackboot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rackbootBin = bin
	res := Results{Date: time.Now().UTC(), CPUs: runtime.NumCPU(), Accel: e2e.Accel(), LoadStart: host.LoadAvg()}
	// Round-robin over stacks within each run, so that a change of load
	// during the benchmark falls on every stack alike.
	for r := 1; r <= runs; r++ {
		for _, fw := range []e2e.Firmware{e2e.BIOS, e2e.UEFI} {
			for _, st := range stacks {
				t.Run(fmt.Sprintf("%s/%s/%d", st.name, fw, r), func(t *testing.T) {
					res.Runs = append(res.Runs, boot(t, st, fw, r))
				})
			}
		}
	}
	res.LoadEnd = host.LoadAvg()
	if t.Failed() {
		t.Fatal("a boot failed: BENCHMARKS.md left as it was")
	}
	if err := write(res); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", render(res))
}

// boot brings up st in a new lab and boots one fw machine through it.
func boot(t *testing.T, st stack, fw e2e.Firmware, r int) Run {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	l := e2e.NewLab(t)
	data := filepath.Join(l.Out, "data")
	e2e.MakePlatform(t, data, build)
	rb := st.start(ctx, t, l, data, fw)
	run := Run{Stack: st.name, Firmware: string(fw), Run: r, Load: host.LoadAvg()}
	vm := l.BootCaptured(ctx, t, fw, fmt.Sprintf("%s-%s", fw, st.name))
	done := e2e.KernelDone
	if fw == e2e.UEFI {
		done = memtestLoaded
	}
	// 10 ms: the harness's usual 250 ms would add up to a quarter second
	// to every boot.
	if _, err := vm.WaitForEvery(ctx, done, 10*time.Millisecond); err != nil {
		t.Fatalf("%s did not boot through %s: %v", vm.Name, st.name, err)
	}
	ended := time.Now()
	run.Seconds = ended.Sub(vm.Started).Seconds()
	vm.Stop()
	frames, err := e2e.ReadPcap(filepath.Join(l.Out, vm.Name+".pcap"))
	if err != nil && len(frames) == 0 {
		t.Fatalf("capture: %v", err)
	}
	stages, err := e2e.WireStages(frames, vm.MAC, vm.Started, ended)
	if err != nil {
		t.Errorf("stages: %v", err)
	}
	for _, s := range stages {
		run.Stages = append(run.Stages, Stage{Name: s.Name, Seconds: s.Took.Seconds()})
	}
	if rb != nil {
		run.Timeline = timeline(ctx, t, rb, vm.MAC)
	}
	t.Logf("%s, %s, run %d: %.1f s %v, timeline %v", st.name, fw, r, run.Seconds, stages, run.Timeline)
	return run
}

// timeline reads rackboot's event timeline of mac's boot: its stages, each
// from the end of the one before to its own last event.
func timeline(ctx context.Context, t *testing.T, rb *e2e.Rackboot, mac string) []Stage {
	code, body, err := rb.Get(ctx, "/api/v1/machines/"+mac)
	if err != nil || code != 200 {
		t.Errorf("GET /api/v1/machines/%s: %d %v", mac, code, err)
		return nil
	}
	var v struct {
		Boot *struct {
			Stages []struct {
				Stage      string  `json:"stage"`
				DurationMS float64 `json:"duration_ms"`
			} `json:"stages"`
		} `json:"boot"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.Boot == nil {
		t.Errorf("machine %s: no boot in %q (%v)", mac, body, err)
		return nil
	}
	var out []Stage
	for _, s := range v.Boot.Stages {
		out = append(out, Stage{Name: s.Stage, Seconds: s.DurationMS / 1000})
	}
	return out
}

// startSeed is the seed blog's stack with its loop broken the way the ISC
// "if exists user-class" recipe does, in dnsmasq: the PXE ROM gets
// undionly.kpxe/snponly.efi from tftpd-hpa, iPXE gets bootstrap.ipxe from
// nginx, which also serves the platform and memtest86+.
func startSeed(ctx context.Context, t *testing.T, l *e2e.Lab, data string, fw e2e.Firmware) *e2e.Rackboot {
	tftpRoot := filepath.Join(l.Out, "tftp")
	e2e.CopyIPXE(t, tftpRoot)
	e2e.StartTFTPD(ctx, t, l, l.ServerIP, tftpRoot)
	web := netip.AddrPortFrom(l.ServerIP, 80)
	if err := os.MkdirAll(filepath.Join(data, "memtest"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"memtest86+x64.bin", "memtest86+x64.efi"} {
		b, err := os.ReadFile(filepath.Join("/boot", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, "memtest", f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := filepath.Join(data, "bootstrap.ipxe")
	if err := os.WriteFile(script, []byte(bootstrapIPXE("http://"+web.String())), 0o644); err != nil {
		t.Fatal(err)
	}
	e2e.StartNginx(ctx, t, l, l.Server, web, data)
	e2e.StartDnsmasq(ctx, t, l, l.AddHost(t, "dhcp", l.Addr(2)), e2e.DHCPServer{
		NextServer: l.ServerIP,
		IPXEScript: "http://" + web.String() + "/bootstrap.ipxe",
	})
	return nil
}

// bootstrapIPXE is the seed blog's bootstrap.ipxe cut to what the benchmark
// boots: its SmartOS item (the default on BIOS) and a memtest86+ item (the
// default on UEFI, where iPXE cannot start SmartOS's multiboot kernel), with
// menuTimeout instead of its 30 s.
func bootstrapIPXE(root string) string {
	return fmt.Sprintf(`#!ipxe
set remote-root %s
set smartos-build %s
iseq ${platform} efi && set default memtest || set default smartos
:start
menu Welcome to iPXE's Boot Menu
item smartos Boot SmartOS ${smartos-build}
item memtest Memtest86+
item shell iPXE shell
choose --default ${default} --timeout %d target && goto ${target}
:shell
shell
goto start
:smartos
kernel ${remote-root}/smartos/${smartos-build}/platform/i86pc/kernel/amd64/unix -B console=text,smartos=true
module ${remote-root}/smartos/${smartos-build}/platform/i86pc/amd64/boot_archive
boot || goto start
:memtest
iseq ${platform} efi && kernel ${remote-root}/memtest/memtest86+x64.efi || kernel ${remote-root}/memtest/memtest86+x64.bin
boot || goto start
`, root, build, menuTimeout.Milliseconds())
}

func rackbootConfig(fw e2e.Firmware) e2e.RackbootConfig {
	cfg := e2e.RackbootConfig{
		MenuTitle:   "rackboot bench",
		MenuTimeout: menuTimeout,
		Console:     "text",
		MemtestBIOS: "/boot/memtest86+x64.bin",
		MemtestEFI:  "/boot/memtest86+x64.efi",
	}
	if fw == e2e.UEFI {
		cfg.MenuDefault = "memtest"
	}
	return cfg
}

func startProxy(ctx context.Context, t *testing.T, l *e2e.Lab, data string, fw e2e.Firmware) *e2e.Rackboot {
	e2e.StartDnsmasq(ctx, t, l, l.AddHost(t, "dhcp", l.Addr(2)), e2e.PlainRouter())
	return e2e.StartRackboot(ctx, t, l, e2e.RackbootOptions{Binary: rackbootBin, DHCPMode: "proxy", DataDir: data, Config: rackbootConfig(fw)})
}

func startFull(ctx context.Context, t *testing.T, l *e2e.Lab, data string, fw e2e.Firmware) *e2e.Rackboot {
	cfg := rackbootConfig(fw)
	cfg.DHCPSubnets = []e2e.DHCPSubnet{{Subnet: l.Subnet, Pool: fmt.Sprintf("%s-%s", l.Addr(100), l.Addr(199))}}
	return e2e.StartRackboot(ctx, t, l, e2e.RackbootOptions{Binary: rackbootBin, DHCPMode: "full", DataDir: data, Config: cfg})
}

// rackbootBin is the binary TestBootTimes built.
var rackbootBin string

// medianRun is the run with the median time of stack st on fw.
func medianRun(res Results, st, fw string) (Run, bool) {
	var rs []Run
	for _, r := range res.Runs {
		if r.Stack == st && r.Firmware == fw {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return Run{}, false
	}
	slices.SortStableFunc(rs, func(a, b Run) int {
		switch {
		case a.Seconds < b.Seconds:
			return -1
		case a.Seconds > b.Seconds:
			return 1
		}
		return 0
	})
	return rs[(len(rs)-1)/2], true
}

func render(res Results) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	runs := 0
	for _, r := range res.Runs {
		runs = max(runs, r.Run)
	}
	p("## Boot time of one machine: rackboot against the seed blog's stack\n\n")
	p("`make bench-boot`, %s: one QEMU machine at a time (accelerator %s, %d CPUs), each in a new lab "+
		"(network namespaces, a bridge, a tap), %d runs of each stack and firmware, round-robin. "+
		"Load average %s at the start, %s at the end (other work shared the machine when it was above 1).\n\n",
		res.Date.Format("2006-01-02 15:04 UTC"), res.Accel, res.CPUs, runs, res.LoadStart, res.LoadEnd)
	p("BIOS: SeaBIOS with QEMU's iPXE ROM, power-on to the SmartOS kernel's last line (the e2e test kernel "+
		"as `unix`, a %.1f MiB boot_archive). UEFI: OVMF's own PXE client, TFTP of Debian's snponly.efi, "+
		"power-on to memtest86+ downloaded by iPXE. Both menus time out after %s. No IPv6 router on the link.\n\n",
		float64(e2e.ArchiveSize)/(1<<20), menuTimeout)
	p("| stack | BIOS median (s) | × seed | UEFI median (s) | × seed |\n|---|---:|---:|---:|---:|\n")
	for _, st := range stacks {
		p("| %s |", st.title)
		for _, fw := range []string{"bios", "uefi"} {
			m, ok := medianRun(res, st.name, fw)
			seed, sok := medianRun(res, "seed", fw)
			if !ok {
				p(" – | – |")
				continue
			}
			ratio := "–"
			if sok && seed.Seconds > 0 {
				ratio = fmt.Sprintf("%.2f", m.Seconds/seed.Seconds)
			}
			p(" %.1f | %s |", m.Seconds, ratio)
		}
		p("\n")
	}
	p("\nEvery run (seconds, power-on to the success line; load average before the boot):\n\n")
	p("| stack | firmware | run | s | load |\n|---|---|---:|---:|---|\n")
	for _, r := range res.Runs {
		p("| %s | %s | %d | %.1f | %s |\n", r.Stack, r.Firmware, r.Run, r.Seconds, r.Load)
	}
	p("\nWhere the median boot's time goes, from the client's own capture (QEMU filter-dump): "+
		"%s; %s; %s; %s; %s (iPXE's IPv6 autoconfiguration waits here); %s; %s.\n\n",
		e2e.StageFirmware+": power-on to the first DHCPDISCOVER", e2e.StagePXEDHCP+": to the TFTP request",
		e2e.StageNBP+": TFTP and iPXE's start, to iPXE's DHCPDISCOVER", e2e.StageIPXEDHCP+": to its DHCPACK",
		e2e.StageIPXEConfig+": to the first HTTP request", e2e.StageMenu+": to the next request (fetch, show, countdown)",
		e2e.StageFiles+": to the success line")
	names := []string{e2e.StageFirmware, e2e.StagePXEDHCP, e2e.StageNBP, e2e.StageIPXEDHCP, e2e.StageIPXEConfig, e2e.StageMenu, e2e.StageFiles}
	p("| stack | boot | %s |\n|---|---|%s\n", strings.Join(names, " | "), strings.Repeat("---:|", len(names)))
	for _, fw := range []string{"bios", "uefi"} {
		for _, st := range stacks {
			m, ok := medianRun(res, st.name, fw)
			if !ok {
				continue
			}
			p("| %s | %s |", st.name, fw)
			for _, n := range names {
				i := slices.IndexFunc(m.Stages, func(s Stage) bool { return s.Name == n })
				if i < 0 {
					p(" – |")
				} else {
					p(" %.2f |", m.Stages[i].Seconds)
				}
			}
			p("\n")
		}
	}
	p("\nThe same median boots as rackboot's own event timeline records them (`GET /api/v1/machines/{mac}`: " +
		"each stage from the end of the one before to its own last event; the first from its first event, " +
		"so the firmware's start is not in it):\n\n")
	for _, fw := range []string{"bios", "uefi"} {
		for _, st := range stacks {
			m, ok := medianRun(res, st.name, fw)
			if !ok || len(m.Timeline) == 0 {
				continue
			}
			var parts []string
			for _, s := range m.Timeline {
				parts = append(parts, fmt.Sprintf("%s %.2f", s.Name, s.Seconds))
			}
			p("- %s, %s: %s\n", st.name, fw, strings.Join(parts, ", "))
		}
	}
	return b.String()
}

const (
	beginMark = "<!-- boot:begin (generated by `make bench-boot`: edit bench/boot, not this) -->"
	endMark   = "<!-- boot:end -->"
)

// write puts the rendered section between its markers in BENCHMARKS.md (at
// the end the first time) and the raw runs in bench/results/boot.json.
func write(res Results) error {
	root, err := filepath.Abs("../..")
	if err != nil {
		return err
	}
	raw, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "bench/results/boot.json"), append(raw, '\n'), 0o644); err != nil {
		return err
	}
	path := filepath.Join(root, "BENCHMARKS.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	block := beginMark + "\n" + render(res) + endMark + "\n"
	s := string(doc)
	start, stop := strings.Index(s, beginMark), strings.Index(s, endMark)
	if start >= 0 && stop > start {
		s = s[:start] + block + s[min(stop+len(endMark)+1, len(s)):]
	} else {
		s = strings.TrimRight(s, "\n") + "\n\n" + block
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
