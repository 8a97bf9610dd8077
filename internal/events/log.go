package events

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for a zero Options.
const (
	DefaultHistory     = 200   // events kept per machine
	DefaultRecent      = 1000  // events kept across machines, for replay to a stream
	DefaultMaxMachines = 10000 // machines kept in memory; the least recently active go first
	DefaultStaleAfter  = 15 * time.Minute
	DefaultSkew        = time.Second
)

// Options tune a Log. The zero value is ready to use.
type Options struct {
	History     int           // events kept per machine
	Recent      int           // events kept across machines
	MaxMachines int           // machines kept
	StaleAfter  time.Duration // an unfinished boot this quiet is over: the next DHCP begins a new one
	// Skew is how far apart the clocks of servers sharing a timeline may
	// be: an event from another server (Event.Server set) less than Skew
	// after the latest event of the machine's boot is late, not new (see
	// record).
	Skew time.Duration
	Now  func() time.Time // the clock; nil is time.Now
	// OnBootEnd, when set, is called (outside the Log's lock, on the
	// publisher's goroutine: keep it quick) with every boot that ends by
	// this server's own event: booted, up or abandoned. A boot that ends by
	// another server's event is that server's to count.
	OnBootEnd func(Boot)
}

// Log is the in-memory boot timeline of every machine. Publish never
// blocks; safe for concurrent use.
type Log struct {
	opt Options

	mu       sync.Mutex
	seq      uint64
	machines map[string]*machineLog
	recent   ring
	subs     map[*Subscription]struct{}
	closed   bool
}

type machineLog struct {
	events ring
	boot   *Boot // the latest boot; nil before the first
	boots  int
}

// NewLog returns an empty Log.
func NewLog(opt Options) *Log {
	if opt.History <= 0 {
		opt.History = DefaultHistory
	}
	if opt.Recent <= 0 {
		opt.Recent = DefaultRecent
	}
	if opt.MaxMachines <= 0 {
		opt.MaxMachines = DefaultMaxMachines
	}
	if opt.StaleAfter <= 0 {
		opt.StaleAfter = DefaultStaleAfter
	}
	if opt.Skew <= 0 {
		opt.Skew = DefaultSkew
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Log{
		opt:      opt,
		machines: map[string]*machineLog{},
		recent:   newRing(opt.Recent),
		subs:     map[*Subscription]struct{}{},
	}
}

// Publish records ev (its Time is set if zero) and returns it as recorded,
// followed by any event it caused (a new boot abandoning the last one, the
// kernel booting).
func (l *Log) Publish(ev Event) []Event { return l.PublishIf(ev, nil) }

// PublishIf is Publish when cond, given the machine's current boot (and
// whether it has one), says yes, in the same lock as the publishing: two
// DHCP packets of one booted OS mark it up once. It returns nil otherwise.
func (l *Log) PublishIf(ev Event, cond func(b Boot, ok bool) bool) []Event {
	if ev.Time.IsZero() {
		ev.Time = l.opt.Now()
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	if cond != nil {
		var (
			b  Boot
			ok bool
		)
		if m, found := l.machines[ev.MAC]; found && m.boot != nil {
			b, ok = m.boot.clone(), true
		}
		if !cond(b, ok) {
			l.mu.Unlock()
			return nil
		}
	}
	out := l.record(ev)
	l.mu.Unlock()
	if l.opt.OnBootEnd != nil {
		for _, e := range out {
			if e.Summary != nil && !e.Remote() {
				l.opt.OnBootEnd(*e.Summary)
			}
		}
	}
	return out
}

// record does Publish's work under l.mu.
func (l *Log) record(ev Event) []Event {
	if ev.MAC == "" {
		return []Event{l.emit(nil, ev)}
	}
	m := l.machine(ev.MAC)
	var out []Event
	// Another server's event comes through the store a batch later than
	// it happened: it may arrive after this server's own later events. A
	// late event never begins a boot; it joins the current one where its
	// stage belongs, or, older than the current boot and not its
	// beginning, stays in the history only.
	late := ev.Remote() && m.boot != nil && ev.Time.Before(m.boot.Updated.Add(l.opt.Skew))
	if late && !m.boot.fits(ev, l.opt.Skew, l.opt.StaleAfter) {
		ev.Boot, ev.Stage = 0, StageNone
		return append(out, l.emit(m, ev))
	}
	if !late && startsNewBoot(m.boot, ev, ev.Time, l.opt.StaleAfter) {
		if old := m.boot; old != nil && !old.Finished {
			old.finish("abandoned")
			sum := old.clone()
			out = append(out, l.emit(m, Event{Time: ev.Time, MAC: ev.MAC, Type: TypeAbandon, Boot: old.Number, Server: ev.Server,
				Stage: old.Stage, Msg: "boot abandoned at " + old.Stage.Label() + ": the machine started over", Summary: &sum}))
		}
		m.boots++
		m.boot = &Boot{Number: m.boots, MAC: ev.MAC, Started: ev.Time, Updated: ev.Time}
	}
	b := m.boot
	ev.Boot = b.Number
	ev.Stage = stageOf(ev)
	if ev.Type == TypeProgress {
		ev.Stage = StageNone
	}
	wasUp := b.Finished && b.Result == "OS up"
	booted := b.apply(ev, late)
	switch ev.Type {
	case TypeUp:
		if wasUp {
			// Its DHCP marked it up, and then it called back (or called
			// twice): the boot ended once, and is counted once.
			ev.UpAfterMS = b.UpAfterMS
			break
		}
		b.UpAfterMS = Millis(b.upAfter(ev.Time))
		ev.UpAfterMS = b.UpAfterMS
		from := "the boot began"
		if b.Stages[0].Stage == StagePowerOn {
			from = "power-on"
		}
		ev.Msg += fmt.Sprintf(", %s after %s", b.upAfter(ev.Time).Round(100*time.Millisecond), from)
		b.finish("OS up")
		sum := b.clone()
		ev.Summary = &sum
	case TypeSilent:
		if b.Finished && b.Result == "booted kernel" {
			b.Result = "OS silent"
			sum := b.clone()
			ev.Summary = &sum
		}
	}
	out = append(out, l.emit(m, ev))
	if booted {
		bt := Event{Time: ev.Time, MAC: ev.MAC, Type: TypeBooted, Boot: b.Number, Stage: StageBootedKernel, Server: ev.Server,
			IP: b.IP, Arch: b.Arch, Msg: "every file is in: iPXE started the kernel"}
		if late {
			b.place(StageBootedKernel, ev.Time)
		} else {
			b.advance(StageBootedKernel, ev.Time)
		}
		b.finish("booted kernel")
		sum := b.clone()
		bt.Summary = &sum
		out = append(out, l.emit(m, bt))
	}
	return out
}

// emit numbers ev, stores it and sends it to subscribers.
func (l *Log) emit(m *machineLog, ev Event) Event {
	l.seq++
	ev.Seq = l.seq
	if m != nil {
		// A download reports progress many times: history keeps the latest.
		if last, ok := m.events.last(); ok && ev.Type == TypeProgress && last.Type == TypeProgress && last.File == ev.File {
			m.events.replaceLast(ev)
		} else {
			m.events.add(ev)
		}
	}
	if ev.Type != TypeProgress {
		l.recent.add(ev)
	}
	for s := range l.subs {
		if s.mac != "" && s.mac != ev.MAC {
			continue
		}
		select {
		case s.c <- ev:
		default:
			s.dropped.Add(1)
		}
	}
	return ev
}

func (l *Log) machine(mac string) *machineLog {
	m, ok := l.machines[mac]
	if ok {
		return m
	}
	if len(l.machines) >= l.opt.MaxMachines {
		l.evictOldest()
	}
	m = &machineLog{events: newRing(l.opt.History)}
	l.machines[mac] = m
	return m
}

func (l *Log) evictOldest() {
	var (
		oldest string
		when   time.Time
	)
	for mac, m := range l.machines {
		var t time.Time
		if m.boot != nil {
			t = m.boot.Updated
		}
		if oldest == "" || t.Before(when) {
			oldest, when = mac, t
		}
	}
	delete(l.machines, oldest)
}

// Machine returns the machine's recorded events, oldest first.
func (l *Log) Machine(mac string) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, ok := l.machines[mac]
	if !ok {
		return nil
	}
	return m.events.all()
}

// Recent returns up to n events of every machine with Seq > after, oldest
// first (progress events are not kept here).
func (l *Log) Recent(n int, after uint64) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := l.recent.all()
	i := sort.Search(len(all), func(i int) bool { return all[i].Seq > after })
	all = all[i:]
	if n > 0 && len(all) > n {
		all = all[len(all)-n:]
	}
	return all
}

// Boot returns the machine's latest boot.
func (l *Log) Boot(mac string) (Boot, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, ok := l.machines[mac]
	if !ok || m.boot == nil {
		return Boot{}, false
	}
	return m.boot.clone(), true
}

// Boots returns the latest boot of every machine, by MAC.
func (l *Log) Boots() map[string]Boot {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]Boot, len(l.machines))
	for mac, m := range l.machines {
		if m.boot != nil {
			out[mac] = m.boot.clone()
		}
	}
	return out
}

// InProgress counts boots that have begun and neither finished nor gone
// quiet for longer than StaleAfter.
func (l *Log) InProgress() int {
	now := l.opt.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.machines {
		if b := m.boot; b != nil && !b.Finished && now.Sub(b.Updated) <= l.opt.StaleAfter {
			n++
		}
	}
	return n
}

// Forget drops a machine's history (its registry entry was deleted).
func (l *Log) Forget(mac string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.machines, mac)
}

// Subscription receives events as they are published. A subscriber that
// falls more than its buffer behind loses events (counted by Dropped)
// rather than slowing the boot.
type Subscription struct {
	C       <-chan Event
	c       chan Event
	mac     string
	dropped atomic.Uint64
	log     *Log
	once    sync.Once
}

// Subscribe returns a subscription to the events of mac ("" for every
// machine) with room for buf events. Close it when done.
func (l *Log) Subscribe(mac string, buf int) *Subscription {
	if buf <= 0 {
		buf = 256
	}
	s := &Subscription{c: make(chan Event, buf), mac: mac, log: l}
	s.C = s.c
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		close(s.c)
		return s
	}
	l.subs[s] = struct{}{}
	return s
}

// Dropped is how many events this subscriber missed.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription; C is closed.
func (s *Subscription) Close() {
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	s.once.Do(func() {
		if _, ok := s.log.subs[s]; ok {
			delete(s.log.subs, s)
			close(s.c)
		}
	})
}

// Close stops the Log: later events are ignored, subscriptions end.
func (l *Log) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	for s := range l.subs {
		delete(l.subs, s)
		close(s.c)
	}
}

// ring is a bounded buffer of the newest events. It grows as events come,
// up to size: a machine with a dozen events costs a dozen, not size (a
// 500-machine boot storm held 29 MB of empty rings when they were made
// full-size up front).
type ring struct {
	buf   []Event
	size  int
	start int
	n     int
}

func newRing(size int) ring { return ring{size: size} }

func (r *ring) add(ev Event) {
	if len(r.buf) < r.size {
		r.buf = append(r.buf, ev) // start stays 0 until the ring is full
		r.n++
		return
	}
	r.buf[r.start] = ev
	r.start = (r.start + 1) % len(r.buf)
}

func (r *ring) last() (Event, bool) {
	if r.n == 0 {
		return Event{}, false
	}
	return r.buf[(r.start+r.n-1)%len(r.buf)], true
}

func (r *ring) replaceLast(ev Event) { r.buf[(r.start+r.n-1)%len(r.buf)] = ev }

func (r *ring) all() []Event {
	out := make([]Event, r.n)
	for i := range out {
		out[i] = r.buf[(r.start+i)%len(r.buf)]
	}
	return out
}
