//go:build linux

// Command storm benchmarks rackboot against the seed blog's stack (dnsmasq,
// tftpd-hpa with Debian's iPXE, nginx) on the same network made of
// namespaces, and writes the figures into BENCHMARKS.md. Run it as root from
// the repository root, usually through `make bench-storm`:
//
//	go run ./bench/storm -rackboot bin/rackboot
//
// Every measurement gets a fresh set of namespaces (server, DHCP server,
// clients), torn down afterwards; nothing touches the host's interfaces.
// The load generator is `rackboot bench` itself, run in the client
// namespace: the same client for every stack.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"rackboot/bench/internal/host"
)

type options struct {
	rackboot     string
	out          string
	section      string // "" or "storm": the storm section; else a section of its own after it
	jsonOut      string
	sizes        []int
	archiveMiB   int
	kernelMiB    int
	netem        string
	repeat       int
	repeatLossy  int
	tftpClients  int
	httpClients  int
	httpRounds   int
	spread       time.Duration
	stormTimeout time.Duration
	only         map[string]bool
	stacks       map[string]bool
	ping         bool
	keep         bool
	rackbootEnv  []string // extra environment for rackboot serve (GODEBUG=...)
	rackbootLog  string   // rackboot serve's --log-level, when set
	perf         bool     // record a CPU profile of rackboot with perf during each storm
	links        map[string]bool
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	if isLinkem() {
		linkemMain(os.Args[2:])
		return
	}
	o := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runAll(ctx, o); err != nil {
		log.Fatal(err)
	}
}

func parseFlags() options {
	var o options
	var sizes, only, stackList, links string
	flag.StringVar(&o.rackboot, "rackboot", "bin/rackboot", "rackboot binary to test (and to generate the load with)")
	flag.StringVar(&o.out, "out", "BENCHMARKS.md", "Markdown file whose storm section is rewritten")
	flag.StringVar(&o.section, "section", "storm", "which generated section of -out to rewrite: storm (the whole storm section), "+
		"or a name for a section of its own, placed after it, that lists these runs only (e.g. lossy-rerun, with -json elsewhere)")
	flag.StringVar(&o.jsonOut, "json", "bench/results/storm.json", "raw results (JSON)")
	flag.StringVar(&sizes, "sizes", "100,500", "storm sizes (machines)")
	flag.IntVar(&o.archiveMiB, "archive-mib", 64, "size of the boot_archive, MiB")
	flag.IntVar(&o.kernelMiB, "kernel-mib", 3, "size of the kernel (unix), MiB")
	flag.StringVar(&o.netem, "netem", "delay 1ms loss 5%", "delay and loss of the lossy storms, each direction of the clients' link")
	flag.StringVar(&links, "links", "clean,lossy", "links to storm over: clean, lossy (-netem)")
	flag.IntVar(&o.repeat, "repeat", 3, "runs of each measurement (the median is reported)")
	flag.IntVar(&o.repeatLossy, "repeat-lossy", 1, "runs of each storm over the lossy link (slow: minutes each)")
	flag.IntVar(&o.tftpClients, "tftp-clients", 200, "concurrent transfers in the TFTP-alone test")
	flag.IntVar(&o.httpClients, "http-clients", 32, "concurrent clients in the HTTP-alone test")
	flag.IntVar(&o.httpRounds, "http-rounds", 4, "boot_archive downloads per client in the HTTP-alone test")
	flag.DurationVar(&o.spread, "spread", 0, "storm arrival spread (0: every machine powers on at once)")
	flag.DurationVar(&o.stormTimeout, "storm-timeout", 20*time.Minute, "give up on one storm after this long")
	flag.StringVar(&only, "only", "storm,tftp,http", "parts to run: storm, tftp, http")
	flag.StringVar(&stackList, "stacks", "seed,rackboot-proxy,rackboot-full", "stacks to compare (rackboot-full is skipped when the binary has no full mode)")
	flag.BoolVar(&o.ping, "ping", false, "let the DHCP servers ping each new address before offering it (dnsmasq: 3 s each, one at a time)")
	flag.BoolVar(&o.keep, "keep", false, "keep the scratch directory (logs of every server)")
	var rbEnv string
	flag.StringVar(&rbEnv, "rackboot-env", "", "extra environment for rackboot serve, e.g. GODEBUG=gctrace=1 (space-separated)")
	flag.StringVar(&o.rackbootLog, "rackboot-log-level", "", "rackboot serve's --log-level (debug logs every ignored DHCP packet; with -keep, to find why a machine failed)")
	flag.BoolVar(&o.perf, "perf", false, "record rackboot's CPU with `perf record -g` during each storm (perf-*.data in the scratch directory; implies -keep)")
	flag.Parse()
	o.rackbootEnv = strings.Fields(rbEnv)
	o.keep = o.keep || o.perf
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			log.Fatalf("-sizes %q: want machine counts separated by commas", sizes)
		}
		o.sizes = append(o.sizes, n)
	}
	o.only, o.stacks, o.links = set(only), set(stackList), set(links)
	return o
}

func set(list string) map[string]bool {
	m := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			m[s] = true
		}
	}
	return m
}

func runAll(ctx context.Context, o options) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root: it builds network namespaces (sudo make bench-storm)")
	}
	if err := checkTools(o); err != nil {
		return err
	}
	bin, err := filepath.Abs(o.rackboot)
	if err != nil {
		return err
	}
	sweepStale()
	work, err := os.MkdirTemp("", "rackboot-bench-")
	if err != nil {
		return err
	}
	// The web root is in here, and nginx's workers run as www-data.
	if err := os.Chmod(work, 0o755); err != nil {
		return err
	}
	if o.keep {
		log.Printf("scratch directory: %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	e, err := prepare(ctx, work, bin, o)
	if err != nil {
		return err
	}
	res := &Results{Started: time.Now(), Options: describe(o), Host: hostInfo(ctx, bin)}
	var run []stack
	for _, st := range stacks {
		switch {
		case !o.stacks[st.name]:
		case st.name == "rackboot-full" && !supportsFull(bin):
			res.Notes = append(res.Notes, "rackboot-full skipped: this rackboot build has no full DHCP mode")
		default:
			run = append(run, st)
		}
	}
	if o.only["storm"] {
		if err := runStorms(ctx, o, e, run, res); err != nil {
			return err
		}
	}
	if o.only["tftp"] {
		if err := runTFTP(ctx, o, e, res); err != nil {
			return err
		}
	}
	if o.only["http"] {
		if err := runHTTP(ctx, o, e, res); err != nil {
			return err
		}
	}
	res.Finished = time.Now()
	res.Host.LoadEnd = host.LoadAvg()
	return write(o, res)
}

func checkTools(o options) error {
	need := []string{"ip", "dnsmasq", "in.tftpd", "nginx"}
	if o.netem != "" {
		need = append(need, "ethtool")
		if _, _, err := linkSpec(o.netem); err != nil {
			return err
		}
	}
	for _, c := range need {
		if _, err := exec.LookPath(c); err != nil {
			return fmt.Errorf("%s not found: install iproute2 ethtool dnsmasq tftpd-hpa nginx-light ipxe (make deps-bench)", c)
		}
	}
	for _, f := range []string{"undionly.kpxe", "ipxe.efi", "snponly.efi"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/ipxe", f)); err != nil {
			return fmt.Errorf("Debian's iPXE is missing (%v): apt-get install ipxe", err)
		}
	}
	if _, err := os.Stat(o.rackboot); err != nil {
		return fmt.Errorf("rackboot binary: %w (make build)", err)
	}
	return nil
}

// prepare writes the files every stack serves: a SmartOS-shaped platform
// of random bytes, the seed blog's menu script and Debian's iPXE builds.
func prepare(ctx context.Context, work, bin string, o options) (*env, error) {
	e := &env{rackboot: bin, work: work, web: filepath.Join(work, "www"), tftpRoot: filepath.Join(work, "tftpboot"),
		build: "20250101T000000Z", ping: o.ping, rackbootEnv: o.rackbootEnv,
		rackbootLog: o.rackbootLog}
	plat := filepath.Join(e.web, "smartos", e.build, "platform", "i86pc")
	for _, f := range []struct {
		path string
		mib  int
	}{{filepath.Join(plat, "kernel", "amd64", "unix"), o.kernelMiB}, {filepath.Join(plat, "amd64", "boot_archive"), o.archiveMiB}} {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return nil, err
		}
		if err := run(ctx, "dd", "if=/dev/urandom", "of="+f.path, "bs=1M", "count="+strconv.Itoa(f.mib), "status=none"); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(e.web, "ipxe"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(e.web, "ipxe", "bootstrap.ipxe"), []byte(seedMenu(e.build)), 0o644); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(e.tftpRoot, 0o755); err != nil {
		return nil, err
	}
	for _, f := range []string{"undionly.kpxe", "ipxe.efi", "snponly.efi"} {
		if err := run(ctx, "cp", "-L", filepath.Join("/usr/lib/ipxe", f), e.tftpRoot+"/"); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// seedMenu is the seed blog's bootstrap.ipxe for one build (with the labels
// its listing lost, and no memtest: the blog's memtest file is not here).
func seedMenu(build string) string {
	return `#!ipxe
set remote-root http://` + serverIP.String() + `
set smartos-build ` + build + `
:start
menu Welcome to iPXE's Boot Menu
item --gap -- ------------------------- SmartOS option 1 ------------------------------
item smartos            Boot SmartOS (${smartos-build})
item smartos_noimport   Boot SmartOS (${smartos-build}) noimport
item --gap -- ------------------------------ Utilities ---------------------------------
item shell      Enter iPXE shell
item reboot     Reboot
item exit       Exit (boot local disk)
choose --default smartos --timeout 30000 target && goto ${target}

:shell
echo Type exit to get the back to the menu
shell
set menu-timeout 0
goto start

:smartos
kernel ${remote-root}/smartos/${smartos-build}/platform/i86pc/kernel/amd64/unix -B console=text,smartos=true
module ${remote-root}/smartos/${smartos-build}/platform/i86pc/amd64/boot_archive
boot || goto start

:smartos_noimport
kernel ${remote-root}/smartos/${smartos-build}/platform/i86pc/kernel/amd64/unix -B console=text,smartos=true,noimport=true
module ${remote-root}/smartos/${smartos-build}/platform/i86pc/amd64/boot_archive
boot || goto start

:reboot
reboot

:exit
exit
`
}

// clientCmd runs `rackboot bench ...` in the client namespace and decodes
// its JSON report into v.
func clientCmd(ctx context.Context, l *lab, e *env, logName string, v any, args ...string) error {
	argv := append([]string{"ip", "netns", "exec", l.cli, e.rackboot, "bench"}, args...)
	argv = append(argv, "--output", "json")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	errLog, err := os.Create(filepath.Join(l.dir, logName+".stderr"))
	if err != nil {
		return err
	}
	defer errLog.Close()
	cmd.Stderr = errLog
	out, runErr := cmd.Output()
	_ = os.WriteFile(filepath.Join(l.dir, logName+".json"), out, 0o644)
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("%s: %v (no report: %v); see %s", strings.Join(args[:1], " "), runErr, err, errLog.Name())
	}
	return nil
}

func linkName(netem string) string {
	if netem == "" {
		return "clean"
	}
	return netem
}
