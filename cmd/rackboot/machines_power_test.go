package main

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rackboot/internal/bmc"
	"rackboot/internal/events"
)

// TestForEachMachine: results come back in the order of the MACs given
// (canonical), at most parallel run at once, and every one is reported.
func TestForEachMachine(t *testing.T) {
	macs := []string{"52-54-00-00-00-03", "52:54:00:00:00:01", "5254.0000.0002", "52:54:00:00:00:04", "52:54:00:00:00:05"}
	var now, peak atomic.Int32
	var done []string
	results := forEachMachine(context.Background(), macs, 2, &bytes.Buffer{}, "power status",
		func(_ context.Context, mac string) bmc.Result {
			n := now.Add(1)
			defer now.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(20 * time.Millisecond)
			if strings.HasSuffix(mac, "04") {
				return bmc.Result{MAC: mac, Error: "no answer", Kind: bmc.KindNoAnswer}
			}
			return bmc.Result{MAC: mac, Action: bmc.Status, Done: "is on"}
		}, func(r bmc.Result) { done = append(done, r.MAC) })
	if p := peak.Load(); p != 2 {
		t.Errorf("peak parallelism %d, want 2", p)
	}
	want := []string{"52:54:00:00:00:03", "52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:04", "52:54:00:00:00:05"}
	for i, r := range results {
		if r.MAC != want[i] {
			t.Errorf("result %d is %s, want %s", i, r.MAC, want[i])
		}
	}
	if len(done) != len(macs) {
		t.Errorf("%d reported, want %d", len(done), len(macs))
	}
	if err := failedCount(results); err == nil || err.Error() != "1 of 5 machines failed" {
		t.Errorf("failedCount = %v", err)
	}
	if got := resultLine(results[3]); got != "52:54:00:00:00:04  failed: no answer" {
		t.Errorf("resultLine = %q", got)
	}
}

// TestBootEnded: what ends a followed boot, and how.
func TestBootEnded(t *testing.T) {
	for _, tc := range []struct {
		ev       events.Event
		until    string
		ends, ok bool
	}{
		{events.Event{Type: events.TypeBooted}, "kernel", true, true},
		{events.Event{Type: events.TypeBooted}, "os-up", false, false},
		{events.Event{Type: events.TypeUp}, "os-up", true, true},
		{events.Event{Type: events.TypeAbandon}, "kernel", true, false},
		{events.Event{Type: events.TypeSilent}, "os-up", true, false},
		{events.Event{Type: events.TypeMenu}, "kernel", false, false},
	} {
		e, ends := bootEnded(tc.ev, tc.until)
		if ends != tc.ends || e.OK != tc.ok {
			t.Errorf("%s until %s: ends %v ok %v, want %v %v", tc.ev.Type, tc.until, ends, e.OK, tc.ends, tc.ok)
		}
	}
}
