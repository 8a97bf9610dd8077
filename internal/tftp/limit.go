package tftp

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Caps on concurrent transfers, used when the Server's fields are zero.
//
// DefaultMaxTransfers is sized for a storm of 1,000 machines: each PXE ROM
// has at most two transfers at once (EDK2 and most ROMs first ask for tsize
// and decline the OACK, then ask again; a lost OACK brings a retransmitted
// RRQ), so 2,048 leaves room for all of them. A transfer costs about 16 KiB
// of the process's memory (goroutine stack, a 2 KiB receive buffer, one block,
// the file handle) plus a socket and a file descriptor, so the cap bounds it
// at tens of megabytes and 4,096 descriptors.
//
// DefaultMaxTransfersPerClient: a firmware runs one transfer at a time; 8
// leaves room for the tsize probe, retransmitted requests and a few machines
// behind one address (a NAT), and stops one host from holding the others' room.
const (
	DefaultMaxTransfers          = 2048
	DefaultMaxTransfersPerClient = 8
)

// errShed is the cause of a transfer cancelled to make room for a new request.
var errShed = errors.New("shed to make room for a newer request: the client never answered")

// slot is one admitted transfer's place in the limits. Its fields are guarded
// by limiter.mu.
type slot struct {
	client   netip.Addr
	cancel   context.CancelCauseFunc
	answered bool // the client sent something on the transfer's TID
	shed     bool
	all, own *list.Element // in limiter.unanswered and clientSlots.unanswered, while sheddable
}

// sheddable: never answered and not already shed.
func (s *slot) sheddable() bool { return s.all != nil }

// clientSlots are one client address's transfers.
type clientSlots struct {
	active     int       // admitted, not shed, not ended
	live       int       // admitted and not ended: shed ones closing count here
	unanswered list.List // of *slot, oldest first
}

// limiter caps transfers in total and per client address. When a cap is hit,
// the oldest transfer whose client never answered (no ACK of the OACK or of
// DATA 1, no ERROR) is shed: a flood of requests from fresh ports never
// answers, while a real client answers within a round trip, so the flood
// churns through its own slots and real transfers keep theirs. Only when no
// transfer under the cap is sheddable is the new request refused.
type limiter struct {
	maxTotal, maxPerClient int

	mu         sync.Mutex
	active     int // admitted, not shed, not ended
	live       int // admitted and not ended
	clients    map[netip.Addr]*clientSlots
	unanswered list.List // of *slot, oldest first
}

func newLimiter(maxTotal, maxPerClient int) *limiter {
	return &limiter{maxTotal: maxTotal, maxPerClient: maxPerClient, clients: map[netip.Addr]*clientSlots{}}
}

// admission is what admit decided.
type admission struct {
	slot    *slot   // nil: refused
	victims []*slot // transfers shed to make room; cancel them
	why     string  // why a request was refused or a transfer shed
}

// admit takes a place for a transfer from client, shedding the oldest
// unanswered transfers if a cap is hit. cancel is what stops the transfer.
func (l *limiter) admit(client netip.Addr, cancel context.CancelCauseFunc) admission {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Shed transfers still hold a goroutine and a socket until they see
	// their cancellation; never let those pile up past one cap's worth.
	if l.live >= 2*l.maxTotal {
		return admission{why: "too many transfers still closing"}
	}
	var a admission
	c := l.clients[client]
	if c != nil && c.active >= l.maxPerClient {
		a.why = "per-client transfer limit"
		v := c.unanswered.Front()
		if v == nil {
			return a
		}
		a.victims = append(a.victims, l.shedLocked(v.Value.(*slot)))
	}
	if l.active >= l.maxTotal {
		a.why = "total transfer limit"
		v := l.unanswered.Front()
		if v == nil {
			return a
		}
		a.victims = append(a.victims, l.shedLocked(v.Value.(*slot)))
	}
	if c == nil {
		c = &clientSlots{}
		l.clients[client] = c
	}
	s := &slot{client: client, cancel: cancel}
	s.all = l.unanswered.PushBack(s)
	s.own = c.unanswered.PushBack(s)
	c.active++
	c.live++
	l.active++
	l.live++
	a.slot = s
	return a
}

// shedLocked marks s shed and frees its place; it stays live until it ends.
func (l *limiter) shedLocked(s *slot) *slot {
	l.unlistLocked(s)
	s.shed = true
	l.active--
	l.clients[s.client].active--
	return s
}

func (l *limiter) unlistLocked(s *slot) {
	if s.all != nil {
		l.unanswered.Remove(s.all)
		l.clients[s.client].unanswered.Remove(s.own)
		s.all, s.own = nil, nil
	}
}

// answered records that s's client answered: s is no longer sheddable.
func (l *limiter) answered(s *slot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !s.answered {
		s.answered = true
		l.unlistLocked(s)
	}
}

// release frees s's place when its transfer has ended.
func (l *limiter) release(s *slot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unlistLocked(s)
	c := l.clients[s.client]
	if !s.shed {
		l.active--
		c.active--
	}
	l.live--
	if c.live--; c.live == 0 {
		delete(l.clients, s.client)
	}
}

// activeCount returns the transfers running, not counting shed ones closing.
func (l *limiter) activeCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.active
}

// limitLogEvery spaces the warnings about refused and shed requests: a flood
// brings thousands a second, and one log line each would cost more than
// refusing them.
const limitLogEvery = 10 * time.Second

// limitLog logs refusals and sheds at most once per limitLogEvery, with how
// many there were since the line before.
type limitLog struct {
	mu            sync.Mutex
	last          time.Time
	refused, shed int64 // since the last line
}

func (g *limitLog) note(log *slog.Logger, client netip.Addr, why string, refused, shed int, stats func() Stats) {
	g.mu.Lock()
	g.refused += int64(refused)
	g.shed += int64(shed)
	now := time.Now()
	if !g.last.IsZero() && now.Sub(g.last) < limitLogEvery {
		g.mu.Unlock()
		return
	}
	r, s := g.refused, g.shed
	g.last, g.refused, g.shed = now, 0, 0
	g.mu.Unlock()
	st := stats()
	log.Warn("tftp: transfer limit reached: shedding transfers whose clients never answered, refusing requests when none is left to shed",
		"client", client, "why", why, "refused", r, "shed", s, "active", st.Active,
		"refused_total", st.Refused, "shed_total", st.Shed, "next_report_in", limitLogEvery)
}
