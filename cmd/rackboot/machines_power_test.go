package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rackboot/internal/api"
	"rackboot/internal/bmc"
	"rackboot/internal/events"
	"rackboot/internal/machines"
	"rackboot/internal/store/boltstore"
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

// TestFollowBoots follows two machines on a real API's event stream: one
// whose power-on abandons the boot before it and then loads its kernel
// (done), one that stops at its menu (failed at that stage when the
// timeout passes).
func TestFollowBoots(t *testing.T) {
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := events.NewLog(events.Options{})
	done := make(chan struct{})
	defer close(done)
	srv := &api.Server{OpenReads: true}
	(&api.Machines{Registry: &machines.Registry{Store: st}, Events: log, Done: done}).Register(srv)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c := &api.Client{Base: ts.URL}

	ok, stuck := "52:54:00:00:00:01", "52:54:00:00:00:02"
	log.Publish(events.Event{MAC: ok, Type: events.TypeDHCP, Msg: "an earlier boot, unfinished"})
	after := log.Recent(1, 0)[0].Seq
	log.Publish(events.Event{MAC: ok, Type: events.TypePower, Msg: "power: power cycled"}) // abandons the earlier boot
	log.Publish(events.Event{MAC: stuck, Type: events.TypePower, Msg: "power: powered on"})
	log.Publish(events.Event{MAC: stuck, Type: events.TypeMenu, Item: "smartos", Msg: "menu served"})
	go func() {
		time.Sleep(300 * time.Millisecond) // while following
		log.Publish(events.Event{MAC: ok, Type: events.TypeMenu, Item: "smartos-noimport", Msg: "menu served"})
		log.Publish(events.Event{MAC: ok, Type: events.TypeBooted, Msg: "every file is in"})
	}()
	var out bytes.Buffer
	ends := followBoots(context.Background(), c, []string{ok, stuck}, map[string]uint64{ok: after, stuck: after},
		bootFlags{until: "kernel", timeout: 2 * time.Second}, &out, false)
	t.Logf("output:\n%s", out.String())
	if len(ends) != 2 || !ends[0].OK || ends[0].Result != "booted kernel" {
		t.Errorf("the machine that booted: %+v", ends)
	}
	if len(ends) == 2 && (ends[1].OK || ends[1].Stage != "menu" || !strings.Contains(ends[1].Msg, "stopped at menu")) {
		t.Errorf("the machine stuck at its menu: %+v", ends[1])
	}
	if strings.Contains(out.String(), "abandoned") && strings.Contains(out.String(), ok+"  failed") {
		t.Errorf("the earlier boot's abandoning was taken for this boot's end")
	}
}
