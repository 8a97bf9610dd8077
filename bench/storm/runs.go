//go:build linux

package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"rackboot/bench/internal/host"
	"rackboot/internal/storm"
)

// Results is everything one harness run measured.
type Results struct {
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished"`
	Options  string        `json:"options"`
	Host     Host          `json:"host"`
	Storms   []StormRun    `json:"storms"`
	Loads    []LoadRun     `json:"loads"`
	Notes    []string      `json:"notes,omitempty"`
	Elapsed  time.Duration `json:"-"`
}

// Host describes the machine and the software versions.
type Host struct {
	Kernel    string            `json:"kernel"`
	CPUs      int               `json:"cpus"`
	CPU       string            `json:"cpu"`
	LoadStart string            `json:"load_start"`
	LoadEnd   string            `json:"load_end"`
	Versions  map[string]string `json:"versions"`
}

// StormRun is one storm against one stack.
type StormRun struct {
	Stack    string        `json:"stack"`
	Machines int           `json:"machines"`
	Link     string        `json:"link"`
	Run      int           `json:"run"`
	Started  time.Time     `json:"started"`
	Load     string        `json:"load"`     // load average when it started
	LoadEnd  string        `json:"load_end"` // and when it ended
	Report   *storm.Report `json:"report,omitempty"`
	PeakRSS  int64         `json:"peak_rss_bytes,omitempty"` // rackboot's VmHWM
	// ServerCPU is the CPU time the boot servers in the server namespace
	// used during the storm (seconds): rackboot, or tftpd-hpa and nginx.
	ServerCPU float64 `json:"server_cpu_s"`
	// UDPDrops counts UDP datagrams dropped for a full receive buffer in
	// the server's and the DHCP server's namespaces: requests nobody saw.
	UDPDrops map[string]int64 `json:"udp_rcvbuf_drops,omitempty"`
	// PortDrops are rackboot's drops by UDP port (67, 4011, 69).
	PortDrops map[string]int64 `json:"udp_port_drops,omitempty"`
	// Link counts the lossy link's frames: what it lost on purpose and
	// what it lost because it could not keep up.
	LinkFrames *LinkStats `json:"link_frames,omitempty"`
	Err        string     `json:"error,omitempty"`
}

// LoadRun is one TFTP-alone or HTTP-alone measurement.
type LoadRun struct {
	Test   string            `json:"test"` // "tftp-200", "tftp-1-lockstep", "tftp-1-window8", "http-32"
	Server string            `json:"server"`
	Link   string            `json:"link"`
	Run    int               `json:"run"`
	Load   string            `json:"load"`
	Report *storm.LoadReport `json:"report,omitempty"`
	// ServerCPU is the CPU time the server used during the load (seconds).
	ServerCPU float64 `json:"server_cpu_s"`
	Err       string  `json:"error,omitempty"`
}

func describe(o options) string {
	return fmt.Sprintf("sizes %v, boot_archive %d MiB, kernel %d MiB, lossy link %q, spread %s, %d runs each "+
		"(lossy storms %d), TFTP %d clients, HTTP %d clients x %d downloads, DHCP ping %v",
		o.sizes, o.archiveMiB, o.kernelMiB, o.netem, o.spread, o.repeat, o.repeatLossy, o.tftpClients, o.httpClients,
		o.httpRounds, o.ping)
}

func hostInfo(ctx context.Context, bin string) Host {
	h := Host{CPUs: runtime.NumCPU(), LoadStart: host.LoadAvg(), Versions: map[string]string{}}
	if out, err := output(ctx, "uname", "-sr"); err == nil {
		h.Kernel = strings.TrimSpace(out)
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				h.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if out, err := exec.Command(bin, "--version").CombinedOutput(); err == nil {
		h.Versions["rackboot"] = strings.TrimPrefix(strings.TrimSpace(string(out)), "rackboot version ")
	}
	for _, pkg := range []string{"dnsmasq-base", "tftpd-hpa", "nginx", "ipxe"} {
		if out, err := output(ctx, "dpkg-query", "-W", "-f=${Version}", pkg); err == nil {
			h.Versions[pkg] = out
		}
	}
	return h
}

// runStorms runs every storm: clean link then the lossy one, each size, each
// stack, alternating the stacks' order between repeats.
func runStorms(ctx context.Context, o options, e *env, sts []stack, res *Results) error {
	var links []string
	if o.links["clean"] {
		links = append(links, "")
	}
	if o.links["lossy"] && o.netem != "" {
		links = append(links, o.netem)
	}
	for _, link := range links {
		repeat := o.repeat
		if link != "" {
			repeat = o.repeatLossy
		}
		for _, n := range o.sizes {
			for r := range repeat {
				order := append([]stack(nil), sts...)
				if r%2 == 1 {
					for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
						order[i], order[j] = order[j], order[i]
					}
				}
				for _, st := range order {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					sr := runStorm(ctx, o, e, st, n, link, r)
					res.Storms = append(res.Storms, sr)
					logStorm(sr)
					saveProgress(o, res)
				}
			}
		}
	}
	return nil
}

func runStorm(ctx context.Context, o options, e *env, st stack, n int, link string, r int) (sr StormRun) {
	sr = StormRun{Stack: st.name, Machines: n, Link: linkName(link), Run: r, Started: time.Now(), Load: host.LoadAvg()}
	defer func() { sr.LoadEnd = host.LoadAvg() }()
	dir := filepath.Join(e.work, fmt.Sprintf("storm-%d-%s-%s-%d", n, slug(link), st.name, r))
	l, err := newLab(ctx, dir, link)
	if err != nil {
		sr.Err = err.Error()
		return sr
	}
	defer l.close()
	srv, err := st.start(ctx, l, e)
	if err != nil {
		sr.Err = err.Error()
		return sr
	}
	if o.perf && srv != nil {
		rec, err := l.start("perf", l.srv, "perf", "record", "-g", "-F", "499", "-o", filepath.Join(dir, "perf.data"),
			"-p", strconv.Itoa(srv.pid()))
		if err == nil {
			defer func() { _ = syscall.Kill(rec.pid(), syscall.SIGINT); <-rec.done }()
		}
	}
	var rep storm.Report
	cpu0 := nsCPU(l.srv)
	err = clientCmd(ctx, l, e, "storm", &rep, "storm", "--interface", clientIface, "-n", strconv.Itoa(n),
		"--spread", o.spread.String(), "--timeout", o.stormTimeout.String(), "--quiet")
	sr.ServerCPU = nsCPU(l.srv) - cpu0
	// The clients' namespace too: a reply dropped at the simulator's own
	// sockets is a loss no server caused.
	sr.UDPDrops = map[string]int64{"server": udpRcvbufErrors(ctx, l.srv), "dhcp": udpRcvbufErrors(ctx, l.dhcp),
		"clients": udpRcvbufErrors(ctx, l.cli)}
	if frames, lerr := l.linkStats(ctx); lerr != nil {
		log.Printf("storm %s: %v", st.name, lerr)
	} else {
		sr.LinkFrames = frames
	}
	if srv != nil {
		sr.PortDrops = udpPortDrops(srv.pid())
	}
	if err != nil {
		sr.Err = err.Error()
		return sr
	}
	sr.Report = &rep
	if srv != nil {
		sr.PeakRSS = srv.peakRSS()
	}
	return sr
}

func logStorm(sr StormRun) {
	if sr.Report == nil {
		log.Printf("storm %-14s %4d machines, %-18s: error: %s", sr.Stack, sr.Machines, sr.Link, sr.Err)
		return
	}
	r := sr.Report
	link := ""
	if st := sr.LinkFrames; st != nil {
		link = fmt.Sprintf(", link frames %d forwarded, %d lost, %d tail-dropped, %d dropped by the kernel",
			st.Forwarded, st.Lost, st.TailDrops, st.Kernel)
	}
	log.Printf("storm %-14s %4d machines, %-18s: booted %d failed %d, all in %.2fs, boot p99 %.2fs, server CPU %.1fs, rss %s, UDP drops %v %v%s (load %s)",
		sr.Stack, sr.Machines, sr.Link, r.Booted, r.Failed, r.AllBootedS, r.Boot.P99S, sr.ServerCPU, storm.FormatBytes(sr.PeakRSS),
		sr.UDPDrops, sr.PortDrops, link, sr.Load)
	for _, f := range r.Failures {
		log.Printf("storm %-14s %4d machines: %d failed in %s: %s; %s", sr.Stack, sr.Machines, f.Count, f.Stage, f.Example,
			strings.Join(f.Machines, " "))
		for i, m := range f.Machines {
			if i < len(f.Errors) {
				log.Printf("storm %-14s   %s at %s", sr.Stack, m, f.Errors[i])
			}
		}
	}
}

// server is a boot server alone, for the TFTP and HTTP tests.
type server struct {
	name  string
	start func(ctx context.Context, l *lab, e *env) error
}

func tftpdAlone(ctx context.Context, l *lab, e *env) error {
	p, err := l.start("tftpd-hpa", l.srv, "in.tftpd", "--foreground", "--user", "root",
		"--address", serverIP.String()+":69", "--secure", e.tftpRoot)
	if err != nil {
		return err
	}
	return p.waitListen(ctx, "udp", 69)
}

func nginxAlone(ctx context.Context, l *lab, e *env) error {
	conf := filepath.Join(l.dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(l.dir, e.web)), 0o644); err != nil {
		return err
	}
	p, err := l.start("nginx", l.srv, "nginx", "-c", conf, "-p", l.dir)
	if err != nil {
		return err
	}
	return p.waitListen(ctx, "tcp", 80)
}

func rackbootAlone(ctx context.Context, l *lab, e *env) error {
	_, err := startRackboot(ctx, l, e, "off", "")
	return err
}

// load runs one `rackboot bench tftp|http` against one server in a fresh lab.
func load(ctx context.Context, e *env, srv server, test, link string, r int, args ...string) LoadRun {
	lr := LoadRun{Test: test, Server: srv.name, Link: linkName(link), Run: r, Load: host.LoadAvg()}
	dir := filepath.Join(e.work, fmt.Sprintf("%s-%s-%s-%d", test, slug(link), srv.name, r))
	l, err := newLab(ctx, dir, link)
	if err != nil {
		lr.Err = err.Error()
		return lr
	}
	defer l.close()
	if err := srv.start(ctx, l, e); err != nil {
		lr.Err = err.Error()
		return lr
	}
	var rep storm.LoadReport
	cpu0 := nsCPU(l.srv)
	err = clientCmd(ctx, l, e, test, &rep, args...)
	lr.ServerCPU = nsCPU(l.srv) - cpu0
	if err != nil {
		lr.Err = err.Error()
		return lr
	}
	lr.Report = &rep
	log.Printf("%-16s %-9s %-10s: wall %.3fs, %.1f MB/s, failed %d, blksize %d windowsize %d, server CPU %.2fs (load %s)",
		test, srv.name, lr.Link, rep.WallS, rep.MBps, rep.Failed, rep.BlockSize, rep.WindowSize, lr.ServerCPU, lr.Load)
	return lr
}

// runTFTP: many concurrent lockstep transfers of ipxe.efi on a clean link,
// then one transfer, lockstep and with windowsize 8, over a link with 1 ms
// of delay each way.
func runTFTP(ctx context.Context, o options, e *env, res *Results) error {
	servers := []server{{"tftpd-hpa", tftpdAlone}, {"rackboot", rackbootAlone}}
	base := []string{"tftp", "--server", serverIP.String(), "--file", "ipxe.efi", "--blksize", "1468"}
	for r := range o.repeat {
		for _, srv := range alternate(servers, r) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res.Loads = append(res.Loads, load(ctx, e, srv, fmt.Sprintf("tftp-%d", o.tftpClients), "", r,
				append(base, "--clients", strconv.Itoa(o.tftpClients))...))
			saveProgress(o, res)
		}
	}
	for r := range o.repeat {
		for _, srv := range alternate(servers, r) {
			for _, w := range []int{0, 8} {
				name := "tftp-1-lockstep"
				if w > 0 {
					name = fmt.Sprintf("tftp-1-window%d", w)
				}
				res.Loads = append(res.Loads, load(ctx, e, srv, name, "delay 1ms", r,
					append(base, "--clients", "1", "--rounds", "3", "--windowsize", strconv.Itoa(w))...))
				saveProgress(o, res)
			}
		}
	}
	return ctx.Err()
}

// runHTTP: the boot_archive to many clients at once, nginx and rackboot,
// over the clean link and the lossy one, each -repeat times: one lossy run
// (15 s) moved by a quarter from one try to the next, with the same frames
// on the wire.
func runHTTP(ctx context.Context, o options, e *env, res *Results) error {
	url := fmt.Sprintf("http://%s/smartos/%s/platform/i86pc/amd64/boot_archive", serverIP, e.build)
	if o.netem != "" && o.links["lossy"] {
		for r := range o.repeat {
			for _, srv := range alternate([]server{{"nginx", nginxAlone}, {"rackboot", rackbootAlone}}, r) {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				res.Loads = append(res.Loads, load(ctx, e, srv, fmt.Sprintf("http-%d-lossy", o.httpClients), o.netem, r,
					"http", "--url", url, "--clients", strconv.Itoa(o.httpClients), "--rounds", "1"))
				saveProgress(o, res)
			}
		}
	}
	for r := range o.repeat {
		for _, srv := range alternate([]server{{"nginx", nginxAlone}, {"rackboot", rackbootAlone}}, r) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res.Loads = append(res.Loads, load(ctx, e, srv, fmt.Sprintf("http-%d", o.httpClients), "", r,
				"http", "--url", url, "--clients", strconv.Itoa(o.httpClients), "--rounds", strconv.Itoa(o.httpRounds)))
			saveProgress(o, res)
		}
	}
	return ctx.Err()
}

func slug(s string) string {
	if s == "" {
		return "clean"
	}
	return strings.NewReplacer(" ", "", "%", "pct").Replace(s)
}

// alternate reverses the order on odd runs, so that neither server always
// goes first.
func alternate[T any](xs []T, run int) []T {
	out := append([]T(nil), xs...)
	if run%2 == 1 {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}
