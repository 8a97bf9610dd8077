package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"rackboot/internal/events"
	"rackboot/internal/machines"
)

// EventStream is the media type of GET /events?follow=1: Server-Sent Events
// (the HTML living standard, §9.2), one "boot" message per events.Event with
// the event's Seq as its id, so a reconnecting EventSource resumes where it
// left off (Last-Event-ID) from the recent history.
const EventStream = "text/event-stream"

// SSE message names besides "boot".
const (
	// SSELagged tells a client that it missed events (it read too slowly):
	// refetch the state. Its data is {"dropped": n}.
	SSELagged = "lagged"
)

// keepAlive is how often an idle stream gets a comment line, so proxies
// and clients see it is alive.
const keepAlive = 15 * time.Second

func (m *Machines) serveEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	mac := ""
	if s := q.Get("mac"); s != "" {
		var err error
		if mac, err = machines.CanonicalMAC(s); err != nil {
			return Errorf(http.StatusBadRequest, "mac: %v", err)
		}
	}
	after, err := uintParam(q.Get("after"), "after")
	if err != nil {
		return err
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if after, err = uintParam(id, "Last-Event-ID"); err != nil {
			return err
		}
	}
	follow, _ := strconv.ParseBool(q.Get("follow"))
	if !follow {
		limit, err := uintParam(q.Get("limit"), "limit")
		if err != nil {
			return err
		}
		if limit == 0 {
			limit = 200
		}
		return WriteJSON(w, http.StatusOK, m.recent(mac, after, int(limit)))
	}
	return m.stream(w, r, mac, after)
}

func uintParam(s, name string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, Errorf(http.StatusBadRequest, "%s: %q is not a number", name, s)
	}
	return n, nil
}

// recent returns the newest events after seq, of one machine or all.
func (m *Machines) recent(mac string, after uint64, limit int) []events.Event {
	var evs []events.Event
	if mac != "" {
		for _, ev := range m.Events.Machine(mac) {
			if ev.Seq > after && ev.Type != events.TypeProgress {
				evs = append(evs, ev)
			}
		}
		if len(evs) > limit {
			evs = evs[len(evs)-limit:]
		}
	} else {
		evs = m.Events.Recent(limit, after)
	}
	if evs == nil {
		evs = []events.Event{}
	}
	return evs
}

// stream sends events as they happen until the client goes, the server
// stops, or the Log closes. With after > 0 it first replays the history
// after that event.
func (m *Machines) stream(w http.ResponseWriter, r *http.Request, mac string, after uint64) error {
	rc := http.NewResponseController(w)
	sub := m.Events.Subscribe(mac, 1024)
	defer sub.Close()
	w.Header().Set("Content-Type", EventStream)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // nginx in front: do not buffer
	w.WriteHeader(http.StatusOK)
	// A first comment makes the response start at once, so clients know
	// the stream is open before the first event.
	fmt.Fprintf(w, ": rackboot events\nretry: 2000\n\n")
	last := after
	if after > 0 {
		for _, ev := range m.recent(mac, after, 1<<20) {
			writeSSE(w, "boot", ev.Seq, ev)
			last = ev.Seq
		}
	}
	if err := rc.Flush(); err != nil {
		return nil
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	var dropped uint64
	for {
		select {
		case ev, ok := <-sub.C:
			if !ok {
				return nil
			}
			if ev.Seq <= last {
				continue // already replayed
			}
			last = ev.Seq
			writeSSE(w, "boot", ev.Seq, ev)
			if d := sub.Dropped(); d > dropped {
				writeSSE(w, SSELagged, 0, map[string]uint64{"dropped": d - dropped})
				dropped = d
			}
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-r.Context().Done():
			return nil
		case <-m.Done:
			return nil
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}

// writeSSE writes one message. JSON has no raw newlines, so data is one line.
func writeSSE(w http.ResponseWriter, name string, id uint64, v any) {
	b, _ := json.Marshal(v)
	if id > 0 {
		fmt.Fprintf(w, "id: %d\n", id)
	}
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
}
