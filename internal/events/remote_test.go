package events

import (
	"fmt"
	"testing"
	"time"
)

// Events from another server (Server set) come a batch late: a late one
// joins the boot where its stage belongs, never begins a new boot.
func TestRemoteLateEventJoinsTheBoot(t *testing.T) {
	var ended []Boot
	l, c := newTestLog(Options{OnBootEnd: func(b Boot) { ended = append(ended, b) }})
	t0 := c.t
	pxeDHCP := Event{Time: t0.Add(1 * time.Second), MAC: mac, Type: TypeDHCP, DHCPType: "DISCOVER", Server: "a"}
	nbp := Event{Time: t0.Add(2 * time.Second), MAC: mac, Type: TypeTFTP, Kind: KindNBP, File: "undionly.kpxe", Bytes: 10, Server: "a"}
	ipxeDHCP := Event{Time: t0.Add(3 * time.Second), MAC: mac, Type: TypeDHCP, DHCPType: "REQUEST", IPXE: true, Server: "a"}
	menu := Event{Time: t0.Add(3100 * time.Millisecond), MAC: mac, Type: TypeMenu, Item: "smartos-1"}

	// This server sees iPXE's menu request first, and the other server's
	// events afterwards, newest first.
	for _, ev := range []Event{menu, ipxeDHCP, nbp, pxeDHCP} {
		for _, e := range l.Publish(ev) {
			if e.Type == TypeAbandon {
				t.Fatalf("a late event abandoned the boot: %+v", e)
			}
		}
	}
	c.t = t0.Add(4 * time.Second)
	l.Publish(Event{Time: c.t, MAC: mac, Type: TypeHTTP, File: "k", Kind: KindKernel, Bytes: 100, Total: 100, Needs: []string{"a"}})
	out := l.Publish(Event{Time: t0.Add(6 * time.Second), MAC: mac, Type: TypeHTTP, File: "a", Kind: KindArchive, Bytes: 1000, Total: 1000})
	if len(out) != 2 || out[1].Type != TypeBooted {
		t.Fatalf("the archive should derive booted, got %+v", out)
	}
	b, _ := l.Boot(mac)
	want := []Stage{StageDHCP, StageNBP, StageIPXEDHCP, StageMenu, StageKernel, StageArchive, StageBootedKernel}
	if fmt.Sprint(stagesOf(b)) != fmt.Sprint(want) {
		t.Errorf("stages %v, want %v", stagesOf(b), want)
	}
	if b.Number != 1 || !b.Started.Equal(pxeDHCP.Time) || b.Result != "booted kernel" {
		t.Errorf("boot %d started %s result %q; want boot 1 started at the PXE DHCP %s, booted kernel", b.Number, b.Started, b.Result, pxeDHCP.Time)
	}
	for i, st := range b.Stages {
		if st.DurationMS < 0 || st.End.Before(st.Start) || (i > 0 && st.Start.Before(b.Stages[i-1].End)) {
			t.Errorf("stage %d out of order: %+v (before: %+v)", i, st, b.Stages[max(i-1, 0)])
		}
	}
	if len(ended) != 1 || ended[0].Result != "booted kernel" {
		t.Errorf("OnBootEnd %+v", ended)
	}
}

// A remote event within the clocks' skew after this server's latest one is
// late too: the other server's clock may be ahead.
func TestRemoteEventWithinSkew(t *testing.T) {
	l, c := newTestLog(Options{Skew: time.Second})
	l.Publish(Event{Time: c.tick(time.Second), MAC: mac, Type: TypeMenu})
	out := l.Publish(Event{Time: c.t.Add(300 * time.Millisecond), MAC: mac, Type: TypeDHCP, IPXE: true, Server: "a"})
	if len(out) != 1 || out[0].Boot != 1 {
		t.Fatalf("iPXE DHCP from a clock 300ms ahead began a boot: %+v", out)
	}
	// Beyond the skew, the same event means the machine started over.
	out = l.Publish(Event{Time: c.t.Add(5 * time.Second), MAC: mac, Type: TypeDHCP, IPXE: true, Server: "a"})
	if len(out) != 2 || out[0].Type != TypeAbandon || out[1].Boot != 2 || out[0].Server != "a" {
		t.Fatalf("want the boot abandoned (by a) and boot 2, got %+v", out)
	}
}

// An event of an earlier boot arriving after a newer boot began stays in
// the history: it neither begins nor changes a boot.
func TestRemoteEventOfEarlierBoot(t *testing.T) {
	var ended []Boot
	l, c := newTestLog(Options{OnBootEnd: func(b Boot) { ended = append(ended, b) }})
	old := c.tick(time.Second)
	c.tick(time.Minute)
	l.Publish(Event{Time: c.t, MAC: mac, Type: TypeDHCP, DHCPType: "DISCOVER"})
	l.Publish(Event{Time: c.tick(time.Second), MAC: mac, Type: TypeMenu})
	out := l.Publish(Event{Time: old, MAC: mac, Type: TypeHTTP, File: "a", Kind: KindArchive, Bytes: 1, Server: "a"})
	if len(out) != 1 || out[0].Boot != 0 || out[0].Stage != StageNone {
		t.Fatalf("an old event was folded: %+v", out)
	}
	b, _ := l.Boot(mac)
	if b.Number != 1 || b.Stage != StageMenu || b.Bytes != 0 || len(l.Machine(mac)) != 3 {
		t.Errorf("boot %+v, %d events", b, len(l.Machine(mac)))
	}
	if len(ended) != 0 {
		t.Errorf("OnBootEnd %+v", ended)
	}
}

// A boot ended by another server's event is counted by that server:
// OnBootEnd is not called, the derived event names it.
func TestRemoteEndIsNotCountedHere(t *testing.T) {
	var ended []Boot
	l, c := newTestLog(Options{OnBootEnd: func(b Boot) { ended = append(ended, b) }})
	l.Publish(Event{Time: c.tick(time.Second), MAC: mac, Type: TypeDHCP, DHCPType: "DISCOVER"})
	l.Publish(Event{Time: c.tick(time.Second), MAC: mac, Type: TypeMenu, Server: "b"})
	out := l.Publish(Event{Time: c.tick(time.Second), MAC: mac, Type: TypeHTTP, File: "k", Kind: KindKernel, Bytes: 1, Server: "b"})
	if len(out) != 2 || out[1].Type != TypeBooted || out[1].Server != "b" {
		t.Fatalf("want booted by b, got %+v", out)
	}
	if len(ended) != 0 {
		t.Errorf("OnBootEnd %+v", ended)
	}
}

// The kernel's needs may arrive first (another server's, late): the boot
// still completes when the kernel comes.
func TestArchiveBeforeKernel(t *testing.T) {
	l, c := newTestLog(Options{})
	l.Publish(Event{Time: c.tick(time.Second), MAC: mac, Type: TypeMenu})
	l.Publish(Event{Time: c.tick(2 * time.Second), MAC: mac, Type: TypeHTTP, File: "a", Kind: KindArchive, Bytes: 1, Total: 1})
	out := l.Publish(Event{Time: c.t.Add(-time.Second), MAC: mac, Type: TypeHTTP, File: "k", Kind: KindKernel, Bytes: 1, Total: 1,
		Needs: []string{"a"}, Server: "b"})
	if len(out) != 2 || out[1].Type != TypeBooted {
		t.Fatalf("want booted, got %+v", out)
	}
	b, _ := l.Boot(mac)
	want := []Stage{StageMenu, StageKernel, StageArchive, StageBootedKernel}
	if fmt.Sprint(stagesOf(b)) != fmt.Sprint(want) {
		t.Errorf("stages %v, want %v", stagesOf(b), want)
	}
}
