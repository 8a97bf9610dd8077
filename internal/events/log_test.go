package events

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

const mac = "52:54:00:12:34:56"

// clock is a fake time source that moves only when told.
type clock struct{ t time.Time }

func (c *clock) now() time.Time                 { return c.t }
func (c *clock) tick(d time.Duration) time.Time { c.t = c.t.Add(d); return c.t }

func newTestLog(opt Options) (*Log, *clock) {
	c := &clock{t: time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)}
	opt.Now = c.now
	return NewLog(opt), c
}

// Boot sequences as real firmware produces them.
func biosBoot(c *clock) []Event {
	return []Event{
		{Time: c.tick(time.Second), MAC: mac, Type: TypeDHCP, DHCPType: "DISCOVER", IPXE: true, Outcome: "answered"},
		{Time: c.tick(time.Second), MAC: mac, Type: TypeDHCP, DHCPType: "REQUEST", IPXE: true, Outcome: "ignored"},
		{Time: c.tick(2 * time.Second), MAC: mac, Type: TypeMenu, Item: "smartos-1"},
		{Time: c.tick(time.Second), MAC: mac, Type: TypeProgress, File: "k", Kind: KindKernel, Bytes: 10, Total: 100},
		{Time: c.tick(time.Second), MAC: mac, Type: TypeProgress, File: "k", Kind: KindKernel, Bytes: 50, Total: 100},
		{Time: c.tick(time.Second), MAC: mac, Type: TypeHTTP, File: "k", Kind: KindKernel, Bytes: 100, Total: 100, Needs: []string{"a", "h"}},
		{Time: c.tick(5 * time.Second), MAC: mac, Type: TypeHTTP, File: "a", Kind: KindArchive, Bytes: 1000, Total: 1000},
		{Time: c.tick(time.Second), MAC: mac, Type: TypeHTTP, File: "h", Kind: KindHash, Bytes: 41, Total: 41},
	}
}

func stagesOf(b Boot) []Stage {
	var s []Stage
	for _, st := range b.Stages {
		s = append(s, st.Stage)
	}
	return s
}

func TestBIOSBootStages(t *testing.T) {
	var ended []Boot
	l, c := newTestLog(Options{OnBootEnd: func(b Boot) { ended = append(ended, b) }})
	var last []Event
	for _, ev := range biosBoot(c) {
		last = l.Publish(ev)
	}
	if len(last) != 2 || last[1].Type != TypeBooted || last[1].Summary == nil {
		t.Fatalf("the hash download should derive a booted event, got %+v", last)
	}
	b, _ := l.Boot(mac)
	want := []Stage{StageIPXEDHCP, StageMenu, StageKernel, StageArchive, StageBootedKernel}
	if fmt.Sprint(stagesOf(b)) != fmt.Sprint(want) {
		t.Errorf("stages %v, want %v", stagesOf(b), want)
	}
	if !b.Finished || b.Result != "booted kernel" || b.Stage != StageBootedKernel || b.Item != "smartos-1" {
		t.Errorf("boot %+v", b)
	}
	if b.Bytes != 1141 {
		t.Errorf("bytes %d, want 1141", b.Bytes)
	}
	// kernel: from the menu (t=4s) to the kernel's end (t=7s); archive: 7s to 13s.
	durs := map[Stage]float64{}
	for _, s := range b.Stages {
		durs[s.Stage] = s.DurationMS
	}
	if durs[StageIPXEDHCP] != 1000 || durs[StageMenu] != 2000 || durs[StageKernel] != 3000 || durs[StageArchive] != 6000 {
		t.Errorf("stage durations %v", durs)
	}
	if st, d := b.Slowest(); st != StageArchive || d != 6*time.Second {
		t.Errorf("slowest %s %s, want archive 6s", st, d)
	}
	if len(ended) != 1 || ended[0].Result != "booted kernel" {
		t.Errorf("OnBootEnd got %+v", ended)
	}
	// History: progress coalesced to its latest.
	evs := l.Machine(mac)
	progress := 0
	for i, e := range evs {
		if e.Type == TypeProgress {
			progress++
			if e.Bytes != 50 {
				t.Errorf("kept progress %d bytes, want the latest (50)", e.Bytes)
			}
		}
		if i > 0 && e.Seq <= evs[i-1].Seq {
			t.Errorf("history out of order at %d", i)
		}
	}
	if progress != 1 || len(evs) != 8 {
		t.Errorf("history has %d events with %d progress, want 8 with 1", len(evs), progress)
	}
	if n := len(l.Recent(0, 0)); n != 7 {
		t.Errorf("recent has %d events, want 7 (no progress)", n)
	}
	if l.InProgress() != 0 {
		t.Errorf("in progress %d after boot", l.InProgress())
	}
}

func TestUEFIBootAndSecondBoot(t *testing.T) {
	l, c := newTestLog(Options{})
	seq := []Event{
		{Time: c.tick(time.Second), MAC: mac, Type: TypeDHCP, DHCPType: "DISCOVER"},
		{Time: c.tick(time.Second), MAC: mac, Type: TypeDHCP, DHCPType: "REQUEST"},
		{Time: c.tick(time.Second), MAC: mac, Type: TypeTFTP, File: "snponly.efi", Kind: KindNBP, Bytes: 200000},
		{Time: c.tick(time.Second), MAC: mac, Type: TypeDHCP, DHCPType: "DISCOVER", IPXE: true},
		{Time: c.tick(time.Second), MAC: mac, Type: TypeMenu},
		{Time: c.tick(time.Second), MAC: mac, Type: TypeHTTP, File: "memtest/x.efi", Kind: KindKernel, Bytes: 5, Total: 5},
	}
	for _, ev := range seq {
		l.Publish(ev)
	}
	b, _ := l.Boot(mac)
	want := []Stage{StageDHCP, StageNBP, StageIPXEDHCP, StageMenu, StageKernel, StageBootedKernel}
	if fmt.Sprint(stagesOf(b)) != fmt.Sprint(want) || !b.Finished {
		t.Fatalf("stages %v (finished %v), want %v", stagesOf(b), b.Finished, want)
	}
	if b.Number != 1 {
		t.Errorf("boot number %d", b.Number)
	}
	// The OS calls back: same boot.
	out := l.Publish(Event{Time: c.tick(time.Minute), MAC: mac, Type: TypeUp})
	if out[0].Boot != 1 || out[0].Summary == nil || out[0].Summary.Result != "OS up" {
		t.Errorf("up event %+v", out[0])
	}
	// A reboot: a new boot.
	out = l.Publish(Event{Time: c.tick(time.Minute), MAC: mac, Type: TypeDHCP})
	if len(out) != 1 || out[0].Boot != 2 {
		t.Errorf("reboot: %+v", out)
	}
	if l.InProgress() != 1 {
		t.Errorf("in progress %d, want 1", l.InProgress())
	}
}

func TestAbandonedAndStale(t *testing.T) {
	l, c := newTestLog(Options{StaleAfter: 10 * time.Minute})
	l.Publish(Event{Time: c.tick(time.Second), MAC: mac, Type: TypeDHCP, IPXE: true})
	l.Publish(Event{Time: c.tick(time.Second), MAC: mac, Type: TypeMenu})
	// The machine is reset at the menu: its PXE ROM asks again.
	out := l.Publish(Event{Time: c.tick(time.Second), MAC: mac, Type: TypeDHCP})
	if len(out) != 2 || out[0].Type != TypeAbandon || out[0].Summary.Result != "abandoned" || out[0].Boot != 1 || out[1].Boot != 2 {
		t.Fatalf("restart at the menu: %+v", out)
	}
	// PXE ROM retries stay in boot 2.
	out = l.Publish(Event{Time: c.tick(time.Second), MAC: mac, Type: TypeDHCP})
	if len(out) != 1 || out[0].Boot != 2 {
		t.Fatalf("retry: %+v", out)
	}
	// Quiet for longer than StaleAfter: a new boot.
	out = l.Publish(Event{Time: c.tick(11 * time.Minute), MAC: mac, Type: TypeDHCP})
	if out[len(out)-1].Boot != 3 {
		t.Fatalf("after a quiet spell: %+v", out)
	}
}

func TestFailedDownloadDoesNotBoot(t *testing.T) {
	l, c := newTestLog(Options{})
	l.Publish(Event{Time: c.tick(time.Second), MAC: mac, Type: TypeMenu})
	l.Publish(Event{Time: c.tick(time.Second), MAC: mac, Type: TypeHTTP, Kind: KindKernel, File: "k", Bytes: 10, Total: 10, Needs: []string{"a"}})
	out := l.Publish(Event{Time: c.tick(time.Second), MAC: mac, Type: TypeHTTP, Kind: KindArchive, File: "a", Bytes: 5, Total: 10,
		Err: "short", Msg: "archive cut short"})
	if len(out) != 1 {
		t.Fatalf("a short archive must not boot: %+v", out)
	}
	b, _ := l.Boot(mac)
	if b.Finished || b.Stage != StageKernel || b.Err != "archive cut short" {
		t.Errorf("boot %+v", b)
	}
}

func TestHistoryBounded(t *testing.T) {
	l, c := newTestLog(Options{History: 5, Recent: 7, MaxMachines: 2})
	for i := 0; i < 20; i++ {
		l.Publish(Event{Time: c.tick(time.Second), MAC: mac, Type: TypeHTTP, Kind: KindOther, File: fmt.Sprint(i)})
	}
	evs := l.Machine(mac)
	if len(evs) != 5 || evs[0].File != "15" || evs[4].File != "19" {
		t.Errorf("history %v", evs)
	}
	if r := l.Recent(0, 0); len(r) != 7 || r[6].File != "19" {
		t.Errorf("recent %d", len(r))
	}
	if r := l.Recent(3, 18); len(r) != 2 {
		t.Errorf("recent after seq 18: %d events, want 2", len(r))
	}
	l.Publish(Event{Time: c.tick(time.Second), MAC: "b", Type: TypeDHCP})
	l.Publish(Event{Time: c.tick(time.Second), MAC: "c", Type: TypeDHCP})
	if _, ok := l.Boot(mac); ok {
		t.Errorf("the least recent machine should have been evicted")
	}
}

func TestSubscribersNeverBlock(t *testing.T) {
	l, c := newTestLog(Options{})
	slow := l.Subscribe("", 2)
	only := l.Subscribe("other", 10)
	for i := 0; i < 10; i++ {
		l.Publish(Event{Time: c.tick(time.Second), MAC: mac, Type: TypeDHCP})
	}
	if slow.Dropped() != 8 || len(slow.C) != 2 {
		t.Errorf("dropped %d, queued %d; want 8 and 2", slow.Dropped(), len(slow.C))
	}
	if len(only.C) != 0 {
		t.Errorf("a subscription for another MAC got %d events", len(only.C))
	}
	slow.Close()
	slow.Close()
	l.Close()
	if _, ok := <-only.C; ok {
		t.Errorf("Close should close subscriptions")
	}
	if out := l.Publish(Event{MAC: mac, Type: TypeDHCP}); out != nil {
		t.Errorf("publish after Close recorded %v", out)
	}
}

func TestConcurrentPublish(t *testing.T) {
	l := NewLog(Options{})
	sub := l.Subscribe("", 100000)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				m := fmt.Sprintf("52:54:00:00:00:%02x", (g*7+i)%16)
				l.Publish(Event{MAC: m, Type: TypeDHCP, IPXE: i%2 == 0})
				l.Boots()
				l.Machine(m)
			}
		}()
	}
	wg.Wait()
	sub.Close()
	var last uint64
	n := 0
	for ev := range sub.C {
		if ev.Seq <= last {
			t.Fatalf("subscriber saw seq %d after %d", ev.Seq, last)
		}
		last = ev.Seq
		n++
	}
	if n < 4000 {
		t.Errorf("subscriber saw %d events, want at least 4000", n)
	}
}
