//go:build linux

// Command dhcp benchmarks rackboot's full DHCP server against Kea
// (kea-dhcp4, memfile) and dnsmasq with Kea's perfdhcp, in one run, on the
// same network namespaces, each server with a fresh lease store, and writes
// the figures into BENCHMARKS.md. Run it as root from the repository root,
// usually through `make bench-dhcp`:
//
//	go run ./bench/dhcp -rackboot bin/rackboot -write BENCHMARKS.md
//
// Per server it measures, in two regimes, the 4-way exchanges (DISCOVER,
// OFFER, REQUEST, ACK) per second at saturation: "normal", 16 million
// simulated clients and a pool of 8 million addresses, where it also
// searches for the highest offered rate that perfdhcp sees answered
// without a single drop; and "oversubscribed", more clients than the pool
// has addresses (100 000 for 65 000 by default), where the pool fills up
// and every DISCOVER from a client without a lease finds nothing free, as
// in a DISCOVER flood. perfdhcp sends as a relay agent (giaddr = its own
// address), so the server leases in the relay's subnet and answers by
// unicast.
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
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"rackboot/bench/internal/host"
)

type options struct {
	rackboot   string
	before     string
	write      string
	servers    []string
	satRate    int
	satSecs    int
	stepSecs   int
	rates      []int
	keaThreads int
	rounds     int
	keep       bool
	regimes    []string
	over       overOptions
}

// overOptions is the oversubscribed regime: clients > pool.
type overOptions struct {
	clients, pool, rate, secs int
	fillSecs                  int // perfdhcp first runs this long, unmeasured, to fill the pool
}

// allClients is perfdhcp's client range in the normal regime.
const allClients = 16000000

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
	// Other work on the machine only ever slows a server down, so each
	// server is measured in several rounds, the order reversed every other
	// round, and its best round counts.
	rounds := make([][]result, 0, o.rounds)
	overRounds := make([][]result, 0, o.rounds)
	start := time.Now()
	for i := range o.rounds {
		order := append([]string{}, o.servers...)
		if i%2 == 1 {
			slices.Reverse(order)
		}
		var round, overRound []result
		for _, name := range order {
			for _, regime := range o.regimes {
				if ctx.Err() != nil {
					break
				}
				log.Printf("round %d of %d: %s, %s", i+1, o.rounds, name, regime)
				bench, into := benchServer, &round
				if regime == "oversubscribed" {
					bench, into = benchOversubscribed, &overRound
				}
				r, err := bench(ctx, o, name)
				if err != nil {
					log.Printf("%s: %v", name, err)
					r.Err = err.Error()
				}
				*into = append(*into, r)
			}
		}
		rounds, overRounds = append(rounds, round), append(overRounds, overRound)
	}
	rep := report{Start: start, End: time.Now(), Results: best(o.servers, rounds), Rounds: rounds,
		Over: best(o.servers, overRounds), OverRounds: overRounds, Opts: o}
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
	var servers, rates, regimes string
	flag.StringVar(&o.rackboot, "rackboot", "bin/rackboot", "the rackboot binary to measure")
	flag.StringVar(&o.before, "rackboot-before", "", "another rackboot binary, measured as server rackboot-before (e.g. before an optimization)")
	flag.StringVar(&o.write, "write", "", "replace the DHCP section of this markdown file (BENCHMARKS.md) with the results")
	flag.StringVar(&servers, "servers", "rackboot,kea,dnsmasq", "servers to measure, in this order")
	flag.IntVar(&o.satRate, "saturation-rate", 30000, "perfdhcp -r for the saturation run: far above what any server answers")
	flag.IntVar(&o.satSecs, "saturation-secs", 15, "length of the saturation run")
	flag.IntVar(&o.stepSecs, "step-secs", 5, "length of each step of the zero-drop search")
	flag.StringVar(&rates, "rates", "500,1000,2000,3000,4000,5000,6000,7000,8000,9000,10000,12000,14000,16000,20000", "offered rates of the zero-drop search, ascending")
	flag.IntVar(&o.keaThreads, "kea-threads", 0, "Kea multi-threading with this many threads (0: Kea 2.2's default, single-threaded)")
	flag.IntVar(&o.rounds, "rounds", 2, "measure every server this many times (the best round counts)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.StringVar(&regimes, "regimes", "normal,oversubscribed", "regimes to measure: normal (16 million clients, 8 million addresses), oversubscribed (-over-clients for -over-pool addresses)")
	flag.IntVar(&o.over.clients, "over-clients", 100000, "oversubscribed regime: perfdhcp's simulated clients")
	flag.IntVar(&o.over.pool, "over-pool", 65000, "oversubscribed regime: addresses in the pool")
	flag.IntVar(&o.over.rate, "over-rate", 20000, "oversubscribed regime: perfdhcp -r")
	flag.IntVar(&o.over.secs, "over-secs", 15, "oversubscribed regime: length of the measured run")
	flag.IntVar(&o.over.fillSecs, "over-fill-secs", 40, "oversubscribed regime: an unmeasured run first, this long, that fills the pool")
	flag.Parse()
	o.servers = strings.Split(servers, ",")
	for _, r := range strings.Split(regimes, ",") {
		if r != "normal" && r != "oversubscribed" {
			log.Fatalf("-regimes: %q is not normal or oversubscribed", r)
		}
		o.regimes = append(o.regimes, r)
	}
	if o.over.clients <= o.over.pool {
		log.Fatalf("-over-clients %d must exceed -over-pool %d", o.over.clients, o.over.pool)
	}
	if o.before != "" && !slices.Contains(o.servers, "rackboot-before") {
		o.servers = append([]string{"rackboot-before"}, o.servers...)
	}
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
	Server     string
	Version    string
	Durable    string  // how it stores leases
	Saturation float64 // 4-way exchanges per second
	SatDrops   float64 // percent of DISCOVERs without an ACK in the saturation run
	SatLatency float64 // ms, REQUEST-ACK average in the saturation run
	CPUPer1000 float64 // server CPU seconds per 1000 exchanges in the saturation run
	// CPULow is the same at the lowest rate of the zero-drop search, which
	// every server keeps up with: the cost of an exchange without the
	// waste of overload.
	CPULow      float64
	SatBufDrops int // of those, dropped by perfdhcp's own full socket buffer
	ZeroDrop    int // highest offered rate with no drop at all
	// ServerClean is the highest offered rate at which every drop
	// perfdhcp counted was its own socket buffer overflowing: the server
	// answered every request in time.
	ServerClean int
	Steps       []step
	Exhausted   string // oversubscribed: what the server said about its full pool
	Filled      int    // oversubscribed: ACKs of the filling run
	LoadBefore  string
	LoadAfter   string
	Err         string
	// rackboot-etcd-2: both servers' /metrics after the saturation run
	// and at the end of the zero-drop search (cluster.go).
	ClusterSat, ClusterEnd string
	// rackboot-etcd-2: lease writes both servers committed per second of
	// the saturation run, whether or not perfdhcp counted the exchange.
	ClusterWrites float64
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
	r = result{Server: name, LoadBefore: host.LoadAvg()}
	defer func() { r.LoadAfter = host.LoadAvg() }()
	l, srv, err := startLab(ctx, o, name, poolLast)
	if err != nil {
		return r, err
	}
	defer l.close(o.keep)
	defer srv.stop()
	r.Version, r.Durable = srv.version, srv.durable
	var w0 float64
	if l.srv2NS != "" {
		defer func() { r.ClusterEnd = clusterFigures(l) }()
		w0 = clusterWrites(l)
	}
	if err := saturate(ctx, l, srv, &r, o.satRate, o.satSecs, allClients); err != nil {
		return r, err
	}
	if l.srv2NS != "" {
		r.ClusterWrites = (clusterWrites(l) - w0) / float64(o.satSecs)
		r.ClusterSat = fmt.Sprintf("%.0f lease writes/s committed by the two during it; ", r.ClusterWrites) + clusterFigures(l)
		log.Printf("%s after saturation: %s", name, r.ClusterSat)
	}

	fails := 0
	for _, rate := range o.rates {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		cpu0 := srv.cpuSeconds()
		s, err := l.perfdhcp(ctx, rate, o.stepSecs, allClients)
		if err != nil {
			return r, err
		}
		if rate == o.rates[0] && s.Acks > 0 {
			r.CPULow = (srv.cpuSeconds() - cpu0) / float64(s.Acks) * 1000
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

// benchOversubscribed measures one server on a fresh lab whose pool has
// fewer addresses than perfdhcp has clients: once the pool is full, a
// DISCOVER from a client without a lease finds nothing free.
func benchOversubscribed(ctx context.Context, o options, name string) (r result, err error) {
	r = result{Server: name, LoadBefore: host.LoadAvg()}
	defer func() { r.LoadAfter = host.LoadAvg() }()
	l, srv, err := startLab(ctx, o, name, lastOfPool(o.over.pool))
	if err != nil {
		return r, err
	}
	defer l.close(o.keep)
	defer srv.stop()
	r.Version, r.Durable = srv.version, srv.durable
	// Fill the pool first: the measured run is then all in the full
	// pool's regime, whatever each server's rate.
	log.Printf("%s: filling the pool, %d s at %d/s offered", name, o.over.fillSecs, o.over.rate)
	fill, err := l.perfdhcp(ctx, o.over.rate, o.over.fillSecs, o.over.clients)
	if err != nil {
		return r, err
	}
	r.Filled = fill.Acks
	err = saturate(ctx, l, srv, &r, o.over.rate, o.over.secs, o.over.clients)
	kealog, _ := os.ReadFile(filepath.Join(l.dir, "kea.log"))
	r.Exhausted = exhaustionLines(srv.output() + string(kealog))
	return r, err
}

// startLab makes a lab whose pool ends at last and starts the named
// server in it, answering.
func startLab(ctx context.Context, o options, name, last string) (*lab, *server, error) {
	mk := newLab
	if name == "rackboot-etcd-2" {
		mk = newLab2
	}
	l, err := mk(name, last)
	if err != nil {
		return nil, nil, err
	}
	srv, err := startServer(ctx, o, l, name)
	if err != nil {
		l.close(o.keep)
		return nil, nil, err
	}
	if err := l.waitReady(ctx); err != nil {
		srv.stop()
		l.close(o.keep)
		return nil, nil, fmt.Errorf("%s does not answer: %w\n%s", name, err, srv.output())
	}
	if l.srv2NS != "" {
		// Each of the two answers on its own, asked by unicast.
		for _, ip := range []string{serverIP, server2IP} {
			p, err := l.perfdhcpTo(ctx, ip, 20, 1, allClients)
			if err == nil && p.Acks == 0 {
				err = fmt.Errorf("no ACK in a 1 s probe: %+v", p)
			}
			if err != nil {
				srv.stop()
				l.close(o.keep)
				return nil, nil, fmt.Errorf("%s: server %s does not answer: %w\n%s", name, ip, err, srv.output())
			}
		}
	}
	return l, srv, nil
}

// saturate runs perfdhcp at rate for secs against srv and fills r's
// saturation figures.
func saturate(ctx context.Context, l *lab, srv *server, r *result, rate, secs, clients int) error {
	log.Printf("%s: saturation, %d s at %d/s offered, %d clients (load %s)", r.Server, secs, rate, clients, host.LoadAvg())
	cpu0 := srv.cpuSeconds()
	sat, err := l.perfdhcp(ctx, rate, secs, clients)
	if err != nil {
		return err
	}
	cpu := srv.cpuSeconds() - cpu0
	r.Saturation, r.SatDrops, r.SatLatency, r.SatBufDrops = sat.Rate, sat.dropPercent(), sat.AckDelay, sat.ClientBufDrops
	if sat.Acks > 0 {
		r.CPUPer1000 = cpu / float64(sat.Acks) * 1000
	}
	log.Printf("%s: %.0f exchanges/s at saturation, %.1f%% dropped, %.1f ms REQUEST-ACK", r.Server, sat.Rate, r.SatDrops, sat.AckDelay)
	return nil
}

// exhaustionLines counts the lines of a server's output that say its pool
// is full, by each server's own words.
func exhaustionLines(out string) string {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "pool exhausted") || strings.Contains(line, "ALLOC_FAIL") || strings.Contains(line, "no address available") {
			n++
		}
	}
	return strconv.Itoa(n)
}

// best picks each server's best round: the highest saturation rate, and
// with it that round's other figures; the zero-drop rates are the best of
// any round.
func best(servers []string, rounds [][]result) []result {
	var out []result
	for _, name := range servers {
		var b *result
		zero, clean := 0, 0
		for _, round := range rounds {
			for i := range round {
				r := &round[i]
				if r.Server != name {
					continue
				}
				zero, clean = max(zero, r.ZeroDrop), max(clean, r.ServerClean)
				if b == nil || b.Err != "" || r.Err == "" && r.Saturation > b.Saturation {
					b = r
				}
			}
		}
		if b != nil {
			x := *b
			x.ZeroDrop, x.ServerClean = zero, clean
			out = append(out, x)
		}
	}
	return out
}
