package events

import (
	"testing"
	"time"
)

// TestPowerBeginsABoot: a power-on begins a new boot (abandoning one under
// way), the PXE ROM's first DHCP joins it, and an up event counts from the
// power-on; PublishIf publishes only when its condition holds.
func TestPowerBeginsABoot(t *testing.T) {
	l := NewLog(Options{})
	mac := "52:54:00:00:00:01"
	t0 := time.Now()
	l.Publish(Event{Time: t0, MAC: mac, Type: TypeDHCP, Msg: "an unfinished boot"})
	out := l.Publish(Event{Time: t0.Add(time.Second), MAC: mac, Type: TypePower, Msg: "power cycled"})
	if len(out) != 2 || out[0].Type != TypeAbandon || out[1].Boot != 2 || out[1].Stage != StagePowerOn {
		t.Fatalf("power event: %+v", out)
	}
	l.Publish(Event{Time: t0.Add(5 * time.Second), MAC: mac, Type: TypeDHCP, Msg: "PXE ROM"})
	b, _ := l.Boot(mac)
	if b.Number != 2 || len(b.Stages) != 2 || b.Stages[0].Stage != StagePowerOn || b.Stages[1].Stage != StageDHCP {
		t.Fatalf("boot after the PXE DHCP: %+v", b)
	}
	if out := l.PublishIf(Event{MAC: mac, Type: TypeUp}, func(b Boot, ok bool) bool { return ok && b.UpCandidate() }); out != nil {
		t.Errorf("up before the kernel: %+v", out)
	}
	out = l.Publish(Event{Time: t0.Add(41 * time.Second), MAC: mac, Type: TypeUp, Via: "callback", Msg: "up"})
	if up := out[len(out)-1]; up.UpAfterMS != 40000 || up.Summary == nil || up.Summary.Result != "OS up" {
		t.Errorf("up event: %+v", up)
	}
}

// TestUpOnce: an OS seen up by its own DHCP that then calls back (as the
// README asks of an installer) ends its boot once: one summary, so
// boots_total and os_up_seconds count it once, and the callback keeps
// the first time to up.
func TestUpOnce(t *testing.T) {
	var ended []Boot
	l := NewLog(Options{OnBootEnd: func(b Boot) { ended = append(ended, b) }})
	mac := "52:54:00:00:00:02"
	t0 := time.Now()
	l.Publish(Event{Time: t0, MAC: mac, Type: TypePower, Msg: "powered on"})
	l.Publish(Event{Time: t0.Add(time.Second), MAC: mac, Type: TypeHTTP, Kind: KindKernel, File: "memtest/x", Msg: "kernel"})
	l.Publish(Event{Time: t0.Add(30 * time.Second), MAC: mac, Type: TypeUp, Via: "dhcp", Msg: "OS up: its own DHCP"})
	out := l.Publish(Event{Time: t0.Add(50 * time.Second), MAC: mac, Type: TypeUp, Via: "callback", Msg: "the OS called back"})
	if up := out[len(out)-1]; up.Summary != nil || up.UpAfterMS != 30000 {
		t.Errorf("the callback after the DHCP's up: summary %t, up after %v ms; want none, 30000", up.Summary != nil, up.UpAfterMS)
	}
	var ups int
	for _, b := range ended {
		if b.Result == "OS up" {
			ups++
		}
	}
	if ups != 1 {
		t.Errorf("the boot ended up %d times, want once", ups)
	}
}
