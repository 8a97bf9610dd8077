package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"rackboot/test/e2e"
)

// Bounds of TestTFTPFloodBoundsMemory.
const (
	floodRequests = 200_000
	floodFor      = 8 * time.Second
	// floodRSSLimit is the most rackboot serve may be resident at any time
	// of the test, flood included. It idles at about 30 MB; before the
	// TFTP caps, 845,000 requests took it to 358 MB and 20,000 to 149 MB.
	floodRSSLimit = 100 << 20
)

// TestTFTPFloodBoundsMemory: rackboot serve, started as the README says
// (an interface and a data directory with a platform), gets 200,000 TFTP
// read requests for a platform file in 8 s from one host, each from a fresh
// source port and never answered. Its resident memory stays under
// floodRSSLimit throughout (sampled, and the kernel's high-water mark), the
// flood is shed and counted in /metrics, its warnings are few, and a real
// tftp client on another host fetches a file in full during the flood.
func TestTFTPFloodBoundsMemory(t *testing.T) {
	bin := needRackboot(t)
	e2e.RequireCommands(t, "tftp", "curl")
	ctx := testContext(t, 3*time.Minute)
	l := e2e.NewLab(t)
	data := filepath.Join(l.Out, "data")
	fx := e2e.MakePlatform(t, data, newBuild)
	rb := l.Start(t, l.Server, "rackboot", bin, "serve", "--interface", e2e.Bridge, "--data-dir", data)
	base := "http://" + l.ServerIP.String()
	if err := e2e.WaitHTTP(ctx, l.Server, base+"/healthz", 200); err != nil {
		t.Fatalf("rackboot did not come up: %v\n%s", err, rb.Output())
	}
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", rb.Pid())); strings.TrimSpace(string(comm)) != "rackboot" {
		t.Fatalf("pid %d is %q, not rackboot: its memory would mean nothing", rb.Pid(), comm)
	}
	flooder := l.AddHost(t, "flood", l.Addr(3))
	client := l.AddHost(t, "client", l.Addr(4))
	rel := func(f e2e.FixtureFile) string { return strings.TrimPrefix(f.URLPath, "/") }

	fetch := func(name string, f e2e.FixtureFile) time.Duration {
		t.Helper()
		dst := filepath.Join(l.Out, name)
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		out, err := client.NS.Exec(cctx, "tftp", "-m", "binary", l.ServerIP.String(), "-c", "get", rel(f), dst)
		took := time.Since(start)
		got, rerr := os.ReadFile(dst)
		want, _ := os.ReadFile(f.Path)
		if err != nil || rerr != nil || !bytes.Equal(got, want) {
			t.Fatalf("tftp get %s: %v %v (%d of %d bytes): %s", rel(f), err, rerr, len(got), len(want), out)
		}
		return took
	}
	fetch("before-flood", fx.Kernel) // the server has served a transfer: a fair baseline
	before := procMemory(t, rb.Pid())

	var (
		mu      sync.Mutex
		peakRSS int64
	)
	sampleDone := make(chan struct{})
	stopSampling := make(chan struct{})
	go func() {
		defer close(sampleDone)
		for {
			if m, err := e2e.ProcMemory(rb.Pid()); err == nil {
				mu.Lock()
				peakRSS = max(peakRSS, m.RSS)
				mu.Unlock()
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	floodDone := make(chan struct{})
	var sent int
	var floodErr error
	go func() {
		defer close(floodDone)
		sent, floodErr = e2e.FloodRRQ(ctx, flooder.NS, l.ServerIP, rel(fx.Archive), floodRequests, floodFor)
	}()
	floodStart := time.Now()
	time.Sleep(time.Second) // the flood has reached the caps
	took := fetch("during-flood", fx.Archive)
	select {
	case <-floodDone:
		t.Errorf("the flood ended before the real client finished: the fetch shows nothing")
	default:
	}
	<-floodDone
	floodTook := time.Since(floodStart)
	if floodErr != nil || sent < floodRequests {
		t.Fatalf("flood sent %d of %d requests: %v", sent, floodRequests, floodErr)
	}
	during := procMemory(t, rb.Pid())
	time.Sleep(10 * time.Second)
	after := procMemory(t, rb.Pid())
	close(stopSampling)
	<-sampleDone

	t.Logf("flood: %d requests in %v from %s; real tftp get of %d bytes during it took %v",
		sent, floodTook.Round(time.Millisecond), flooder.IP, fx.Archive.Size, took.Round(time.Millisecond))
	t.Logf("rackboot RSS: before %s, peak sampled %s, at the end of the flood %s, 10 s later %s; high-water mark %s (limit %s)",
		mb(before.RSS), mb(peakRSS), mb(during.RSS), mb(after.RSS), mb(after.HWM), mb(floodRSSLimit))
	if peak := max(after.HWM, peakRSS); peak > floodRSSLimit {
		t.Errorf("rackboot was resident up to %s, want under %s", mb(peak), mb(floodRSSLimit))
	}
	shed, refused := metric(t, client, base, "rackboot_tftp_transfers_shed_total"), metric(t, client, base, "rackboot_tftp_requests_refused_total")
	warnings := strings.Count(rb.Output(), "tftp: transfer limit reached")
	t.Logf("metrics: %d transfers shed, %d requests refused; %d limit warnings in the log", shed, refused, warnings)

	// Most requests are shed; some are lost in the socket's queue when
	// the server falls behind. Far fewer than sent would mean the caps
	// were never reached and the test showed nothing.
	if shed < floodRequests/10 {
		t.Errorf("%d transfers shed for %d requests: the caps were barely reached", shed, sent)
	}
	if maxWarnings := 2 + int(floodTook/(10*time.Second)); warnings == 0 || warnings > maxWarnings {
		t.Errorf("%d limit warnings for a %v flood; want 1 to %d (one per 10 s)", warnings, floodTook, maxWarnings)
	}
}

func procMemory(t *testing.T, pid int) e2e.Memory {
	t.Helper()
	m, err := e2e.ProcMemory(pid)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// metric reads one unlabelled metric from rackboot's /metrics.
func metric(t *testing.T, h *e2e.Host, base, name string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := h.NS.Exec(ctx, "curl", "-s", base+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("/metrics has no %s", name)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return int64(v)
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
