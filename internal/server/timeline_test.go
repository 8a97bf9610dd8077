package server

import (
	"strings"
	"testing"
	"time"

	"rackboot/internal/events"
	"rackboot/internal/store/etcdstore/etcdtest"
)

// TestTimelineShared: two servers on one etcd store share their boot
// timelines (a step seen by a is in b's, named after a) and count it in
// /metrics; on the bolt store nothing is shared.
func TestTimelineShared(t *testing.T) {
	ec := etcdtest.Start(t, 1)
	a, urlA := runServer(t, etcdConfig(t, ec.Endpoints(), "/timeline/", "a"))
	b, urlB := runServer(t, etcdConfig(t, ec.Endpoints(), "/timeline/", "b"))
	const mac = "52:54:00:00:0a:01"
	a.timeline.Events.Publish(events.Event{Time: time.Now(), MAC: mac, Type: events.TypeDHCP, DHCPType: "DISCOVER"})
	eventually(t, "b's timeline to show a's step", func() bool {
		evs := b.timeline.Events.Machine(mac)
		return len(evs) == 1 && evs[0].Server == "a"
	})
	if m := get(t, urlA+"/metrics"); !strings.Contains(m, "rackboot_timeline_events_published_total 1") {
		t.Errorf("a's metrics do not count the published event")
	}
	if m := get(t, urlB+"/metrics"); !strings.Contains(m, "rackboot_timeline_events_received_total 1") ||
		!strings.Contains(m, "rackboot_timeline_events_dropped_total 0") {
		t.Errorf("b's metrics do not count the received event")
	}

	s, url := runServer(t, loopbackConfig(t))
	if s.sharedTimeline != nil {
		t.Error("the bolt store shares its timeline")
	}
	if m := get(t, url+"/metrics"); strings.Contains(m, "rackboot_timeline_") {
		t.Error("the bolt store has timeline metrics")
	}
}
