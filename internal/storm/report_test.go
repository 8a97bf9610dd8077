package storm

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		p    int
		want time.Duration
	}{{50, 50 * time.Millisecond}, {95, 95 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}} {
		if got := percentile(ds, tc.p); got != tc.want {
			t.Errorf("p%d = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(ds[:1], 99); got != time.Millisecond {
		t.Errorf("p99 of one = %v", got)
	}
}

func TestBuildReport(t *testing.T) {
	start := time.Now()
	mk := func(arch uint16, failed Stage, exited bool, took time.Duration) *machine {
		m := &machine{id: identity{mac: net.HardwareAddr{2, 0, 0, 0, 0, 1}, arch: arch}}
		m.res.failed = failed
		m.res.exited = exited
		m.res.start, m.res.end = start, start.Add(took)
		for st := range numStages {
			if failed >= 0 && st >= failed {
				break
			}
			m.res.done[st], m.res.dur[st], m.res.bytes[st] = true, took/time.Duration(numStages), 10
		}
		if failed >= 0 {
			m.res.err = errors.New("no DHCPOFFER after 4 DHCPDISCOVERs")
		}
		m.res.retries[StageDHCP] = 1
		return m
	}
	ms := []*machine{
		mk(0, -1, false, 2*time.Second),
		mk(0, -1, false, 3*time.Second),
		mk(7, -1, true, time.Second),
		mk(0, StageDHCP, false, 60*time.Second),
	}
	r := buildReport(Config{Spread: time.Second}, start, ms)
	if r.Machines != 4 || r.BIOS != 3 || r.UEFI != 1 || r.Booted != 3 || r.Exited != 1 || r.Failed != 1 {
		t.Errorf("counts: %+v", r)
	}
	if r.AllBootedS != 60 || r.Boot.MaxS != 3 || r.Boot.P50S != 2 {
		t.Errorf("times: all %v, boot %+v", r.AllBootedS, r.Boot)
	}
	if len(r.Failures) != 1 || r.Failures[0].Stage != "dhcp" || r.Failures[0].Count != 1 ||
		!slices.Equal(r.Failures[0].Machines, []string{"02:00:00:00:00:01"}) {
		t.Errorf("failures: %+v", r.Failures)
	}
	if r.Stages[StageDHCP].Retries != 4 || r.Stages[StageDHCP].Failed != 1 || r.Stages[StageDHCP].Done != 3 {
		t.Errorf("dhcp stage: %+v", r.Stages[StageDHCP])
	}
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"4 machines (3 BIOS, 1 UEFI)", "failed 1", "dhcp: 1, e.g. no DHCPOFFER",
		"machines: 02:00:00:00:00:01\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
}
