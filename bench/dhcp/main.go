//go:build linux

// Command dhcp benchmarks rackboot's full DHCP server against Kea
// (kea-dhcp4, memfile) and dnsmasq with Kea's perfdhcp, in one run, on the
// same network namespaces, each server with a fresh lease store, and writes
// the figures into BENCHMARKS.md. Run it as root from the repository root,
// usually through `make bench-dhcp`:
//
//	go run ./bench/dhcp -rackboot bin/rackboot -write BENCHMARKS.md
//
// Per server it measures the 4-way exchanges (DISCOVER, OFFER, REQUEST,
// ACK) per second at saturation, and the highest offered rate that
// perfdhcp sees answered without a single drop. perfdhcp sends as a relay
// agent (giaddr = its own address), so the server leases in the relay's
// subnet and answers by unicast.
//
// The namespaces (server and client, joined by one veth) are made for the
// run and removed after it; nothing touches the host's interfaces. The
// servers started are stopped by pid.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	rackboot   string
	write      string
	servers    []string
	satRate    int
	satSecs    int
	stepSecs   int
	rates      []int
	keaThreads int
	keep       bool
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("bench-dhcp: ")
	o := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if os.Geteuid() != 0 {
		log.Fatal("run as root: the benchmark makes network namespaces and binds port 67 in them")
	}
	for _, tool := range []string{"ip", "perfdhcp"} {
		if _, err := exec.LookPath(tool); err != nil {
			log.Fatalf("%s not found (apt-get install iproute2 kea-admin)", tool)
		}
	}
	var results []result
	start := time.Now()
	for _, name := range o.servers {
		if ctx.Err() != nil {
			break
		}
		r, err := benchServer(ctx, o, name)
		if err != nil {
			log.Printf("%s: %v", name, err)
			r.Err = err.Error()
		}
		results = append(results, r)
	}
	rep := report{Start: start, End: time.Now(), Results: results, Opts: o}
	md := rep.markdown()
	fmt.Println(md)
	if o.write != "" {
		if err := writeSection(o.write, md); err != nil {
			log.Fatal(err)
		}
		log.Printf("wrote the DHCP section of %s", o.write)
	}
}

func parseFlags() options {
	var o options
	var servers, rates string
	flag.StringVar(&o.rackboot, "rackboot", "bin/rackboot", "the rackboot binary to measure")
	flag.StringVar(&o.write, "write", "", "replace the DHCP section of this markdown file (BENCHMARKS.md) with the results")
	flag.StringVar(&servers, "servers", "rackboot,kea,dnsmasq", "servers to measure, in this order")
	flag.IntVar(&o.satRate, "saturation-rate", 30000, "perfdhcp -r for the saturation run: far above what any server answers")
	flag.IntVar(&o.satSecs, "saturation-secs", 15, "length of the saturation run")
	flag.IntVar(&o.stepSecs, "step-secs", 5, "length of each step of the zero-drop search")
	flag.StringVar(&rates, "rates", "500,1000,2000,3000,4000,5000,6000,7000,8000,9000,10000,12000,14000,16000,20000", "offered rates of the zero-drop search, ascending")
	flag.IntVar(&o.keaThreads, "kea-threads", 0, "Kea multi-threading with this many threads (0: Kea 2.2's default, single-threaded)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.Parse()
	o.servers = strings.Split(servers, ",")
	for _, f := range strings.Split(rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			log.Fatalf("-rates: %q is not a rate", f)
		}
		o.rates = append(o.rates, n)
	}
	return o
}

// result is one server's figures.
type result struct {
	Server      string
	Version     string
	Durable     string  // how it stores leases
	Saturation  float64 // 4-way exchanges per second
	SatDrops    float64 // percent of DISCOVERs without an ACK in the saturation run
	SatLatency  float64 // ms, REQUEST-ACK average in the saturation run
	CPUPer1000  float64 // server CPU seconds per 1000 exchanges in the saturation run
	SatBufDrops int     // of those, dropped by perfdhcp's own full socket buffer
	ZeroDrop    int     // highest offered rate with no drop at all
	// ServerClean is the highest offered rate at which every drop
	// perfdhcp counted was its own socket buffer overflowing: the server
	// answered every request in time.
	ServerClean int
	Steps       []step
	LoadBefore  string
	LoadAfter   string
	Err         string
}

// step is one rate of the zero-drop search.
type step struct {
	Rate     int
	Achieved float64
	Drops    int
	BufDrops int // of Drops, perfdhcp's socket buffer overflowing
}

// benchServer measures one server on a fresh lab.
func benchServer(ctx context.Context, o options, name string) (r result, err error) {
	r = result{Server: name, LoadBefore: loadavg()}
	defer func() { r.LoadAfter = loadavg() }()
	l, err := newLab(name)
	if err != nil {
		return r, err
	}
	defer l.close(o.keep)
	srv, err := startServer(ctx, o, l, name)
	if err != nil {
		return r, err
	}
	defer srv.stop()
	r.Version, r.Durable = srv.version, srv.durable
	if err := l.waitReady(ctx); err != nil {
		return r, fmt.Errorf("%s does not answer: %w\n%s", name, err, srv.output())
	}
	log.Printf("%s: saturation, %d s at %d/s offered (load %s)", name, o.satSecs, o.satRate, loadavg())
	cpu0 := srv.cpuSeconds()
	sat, err := l.perfdhcp(ctx, o.satRate, o.satSecs)
	if err != nil {
		return r, err
	}
	cpu := srv.cpuSeconds() - cpu0
	r.Saturation, r.SatDrops, r.SatLatency, r.SatBufDrops = sat.Rate, sat.dropPercent(), sat.AckDelay, sat.ClientBufDrops
	if sat.Acks > 0 {
		r.CPUPer1000 = cpu / float64(sat.Acks) * 1000
	}
	log.Printf("%s: %.0f exchanges/s at saturation, %.1f%% dropped, %.1f ms REQUEST-ACK", name, sat.Rate, r.SatDrops, sat.AckDelay)

	fails := 0
	for _, rate := range o.rates {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		s, err := l.perfdhcp(ctx, rate, o.stepSecs)
		if err != nil {
			return r, err
		}
		drops := s.OfferDrops + s.AckDrops
		r.Steps = append(r.Steps, step{Rate: rate, Achieved: s.Rate, Drops: drops, BufDrops: s.ClientBufDrops})
		log.Printf("%s: %d/s offered: %.0f/s, %d drops (%d in perfdhcp's socket buffer, %d in the server's)",
			name, rate, s.Rate, drops, s.ClientBufDrops, s.ServerBufDrops)
		if drops == 0 {
			r.ZeroDrop = rate
		}
		// perfdhcp's drops all explained by its own buffer overflowing,
		// and the server's buffer never full: the server kept up.
		if drops <= s.ClientBufDrops && s.ServerBufDrops == 0 {
			r.ServerClean, fails = rate, 0
		} else if fails++; fails == 2 {
			break
		}
	}
	return r, nil
}

// loadavg is the first three fields of /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
