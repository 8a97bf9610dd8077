package machines

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"rackboot/internal/events"
	"rackboot/internal/store"
)

// Recorder writes what the boot events say about machines into the
// registry: it registers a machine the first time it is seen, keeps its
// firmware, UUID, vendor class and address current, and stores a summary of
// each finished boot. It runs on its own goroutine, reading a subscription,
// and writes in batches (one store transaction, so one fsync, per batch):
// the boot path never waits for the disk.
type Recorder struct {
	Registry *Registry
	Logger   *slog.Logger
	// Interval is how long events gather before a write; 0 is 250ms.
	Interval time.Duration
	// SeenEvery is how stale LastSeen may get before it alone causes a
	// write; 0 is 30s.
	SeenEvery time.Duration
}

// Run records events from in until ctx is done or in is closed, then
// writes what it still holds.
func (r *Recorder) Run(ctx context.Context, in <-chan events.Event) error {
	interval := r.Interval
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var batch []events.Event
	flush := func(ctx context.Context) {
		if len(batch) == 0 {
			return
		}
		if err := r.Write(ctx, batch); err != nil {
			r.log().Error("recording machines failed; their boot history misses these events", "events", len(batch), "err", err)
		}
		batch = batch[:0]
	}
	for {
		select {
		case ev, ok := <-in:
			if !ok {
				flush(context.WithoutCancel(ctx))
				return nil
			}
			if ev.MAC != "" && ev.Type != events.TypeProgress {
				batch = append(batch, ev)
			}
			if len(batch) >= 1024 {
				flush(ctx)
			}
		case <-tick.C:
			flush(ctx)
		case <-ctx.Done():
			// Take what is already queued, then write it with a short deadline.
			for drained := false; !drained; {
				select {
				case ev, ok := <-in:
					if !ok {
						drained = true
					} else if ev.MAC != "" && ev.Type != events.TypeProgress {
						batch = append(batch, ev)
					}
				default:
					drained = true
				}
			}
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			flush(wctx)
			cancel()
			return nil
		}
	}
}

func (r *Recorder) log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// Write records a batch of events in one transaction.
func (r *Recorder) Write(ctx context.Context, batch []events.Event) error {
	byMAC := map[string][]events.Event{}
	var order []string
	for _, ev := range batch {
		if _, ok := byMAC[ev.MAC]; !ok {
			order = append(order, ev.MAC)
		}
		byMAC[ev.MAC] = append(byMAC[ev.MAC], ev)
	}
	seenEvery := r.SeenEvery
	if seenEvery <= 0 {
		seenEvery = 30 * time.Second
	}
	var registered []string
	err := r.Registry.Store.Txn(ctx, func(tx store.Tx) error {
		registered = registered[:0]
		for _, mac := range order {
			m, err := txGet(tx, mac)
			isNew := errors.Is(err, ErrNotFound)
			switch {
			case isNew:
				m = Machine{MAC: mac}
			case err != nil:
				return err
			}
			before, _ := json.Marshal(m)
			for _, ev := range byMAC[mac] {
				observe(&m, ev)
			}
			after, _ := json.Marshal(m)
			staleSeen := !m.LastSeen.IsZero() && byMAC[mac][len(byMAC[mac])-1].Time.Sub(m.LastSeen) >= seenEvery
			if string(before) == string(after) && !staleSeen && !isNew {
				continue
			}
			m.LastSeen = byMAC[mac][len(byMAC[mac])-1].Time
			if isNew {
				registered = append(registered, mac)
			}
			if err := txPut(tx, m); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		for _, mac := range registered {
			r.log().Info("machine registered", "mac", mac)
		}
	}
	return err
}

// observe folds one event into m. LastSeen is set by the caller.
func observe(m *Machine, ev events.Event) {
	if m.FirstSeen.IsZero() {
		m.FirstSeen = ev.Time
	}
	if ev.Arch != "" && ev.Arch != "unknown" {
		m.Arch = ev.Arch
	}
	if ev.IP != "" && ev.IP != "0.0.0.0" {
		m.LastIP = ev.IP
	}
	if ev.UUID != "" {
		m.UUID = ev.UUID
	}
	if ev.VendorClass != "" {
		m.VendorClass = ev.VendorClass
	}
	if ev.Summary != nil {
		addBoot(m, summarize(*ev.Summary))
	}
}

func summarize(b events.Boot) BootSummary {
	s := BootSummary{
		Started:    b.Started,
		DurationMS: events.Millis(b.Duration()),
		Result:     b.Result,
		Stage:      string(b.Stage),
		Item:       b.Item,
		Kernel:     b.Kernel,
		Bytes:      b.Bytes,
		IP:         b.IP,
		UpAfterMS:  b.UpAfterMS,
		Stages:     map[string]float64{},
	}
	for _, st := range b.Stages {
		s.Stages[string(st.Stage)] = st.DurationMS
	}
	if st, _ := b.Slowest(); st != events.StageNone {
		s.Slowest = string(st)
	}
	return s
}

// addBoot puts s in m's boots, replacing the summary of the same boot (an
// "OS up" after "booted kernel"), keeping the last KeepBoots.
func addBoot(m *Machine, s BootSummary) {
	for i := range m.Boots {
		if m.Boots[i].Started.Equal(s.Started) {
			m.Boots[i] = s
			return
		}
	}
	m.Boots = append(m.Boots, s)
	if n := len(m.Boots); n > KeepBoots {
		m.Boots = append([]BootSummary(nil), m.Boots[n-KeepBoots:]...)
	}
}
