package lease

import (
	"net/netip"
	"slices"
	"time"
)

// The allocator: where a free pool address comes from, at a cost that does
// not grow with the pool (DESIGN.md, "a DISCOVER flood cannot starve the
// pool"). Scanning the pool for a free address, as the first version did,
// cost 65 000 probes per DISCOVER once a /16 was full, which is when a flood
// sends the most of them.
//
// Per subnet, in the order allocate looks:
//
//  1. next, per pool: every address below it has been looked at once. Each
//     address is passed once in the Manager's life, so the walk is O(1)
//     amortised; addresses it skips (a record, an offer, excluded, reserved)
//     are either never free or in one of the queues below.
//  2. unused: pool addresses with no record that became free again (an
//     offer that lapsed, was dropped or replaced). Like never-used ones,
//     they carry no client's memory, so they go before the others.
//  3. free, expiring, quarantine: released addresses, bound leases by
//     expiry, declined addresses by the end of their quarantine. Each is a
//     FIFO whose entries are ready at a time (at); allocate takes the ready
//     head that became free longest ago, so a client coming back soon still
//     usually finds its old address.
//  4. offers: the offers held, oldest first. When nothing above is left,
//     the oldest offer not yet REQUESTed is taken from its client. The
//     new offer is marked taken, and a taken offer does not hold its
//     address against REQUESTs: the first client to REQUEST it gets it
//     (bind), the one it was taken from included, as when Kea (before
//     2.6) and dnsmasq hold no offers at all. A flood's clients never
//     REQUEST, so a real client's REQUEST wins however fast the flood
//     takes offers; the loser of a race gets a NAK and starts over.
//
// Queues are checked lazily: an entry is looked at when popped, and dropped
// if its address was taken in the meantime (a client asked for it by name,
// or it was renewed: then it is queued again for its new expiry). Every
// push is popped at most once, so each allocation costs O(1) amortised.
// An address is at most once in each queue (a bit set per queue), so the
// queues never hold more entries than the pools have addresses.

// slot is one queued address and when it is (or becomes) free.
type slot struct {
	ip uint32
	at int64 // Unix nanoseconds
}

// addrQueue is a FIFO of pool addresses, each at most once.
type addrQueue struct {
	items  []slot
	head   int
	queued bitset
}

func (q *addrQueue) push(ip uint32, at time.Time) {
	if q.queued.has(ip) {
		return // already queued: when popped, it is looked at as it is then
	}
	q.queued.set(ip, true)
	q.items = append(q.items, slot{ip, at.UnixNano()})
}

// ready returns the head when it is free at now.
func (q *addrQueue) ready(now int64) (slot, bool) {
	if q.head == len(q.items) || q.items[q.head].at > now {
		return slot{}, false
	}
	return q.items[q.head], true
}

func (q *addrQueue) pop() slot {
	s := q.items[q.head]
	q.queued.set(s.ip, false)
	q.head++
	// Give the popped part back once it is half the slice: O(1) amortised.
	if q.head >= 1024 && q.head*2 >= len(q.items) {
		q.items = slices.Clone(q.items[q.head:])
		q.head = 0
	}
	return s
}

func (q *addrQueue) len() int { return len(q.items) - q.head }

// bitset is a set of IPv4 addresses, in pages allocated when first used:
// a /8 pool costs 2 MiB per queue once every page is touched, a /24 one
// page of 32 KiB.
type bitset struct {
	pages map[uint32]*[bitsetPage / 64]uint64
}

const bitsetPage = 1 << 18 // addresses per page

func (b *bitset) has(ip uint32) bool {
	p := b.pages[ip/bitsetPage]
	return p != nil && p[ip%bitsetPage/64]&(1<<(ip%64)) != 0
}

func (b *bitset) set(ip uint32, v bool) {
	p := b.pages[ip/bitsetPage]
	if p == nil {
		if !v {
			return
		}
		if b.pages == nil {
			b.pages = map[uint32]*[bitsetPage / 64]uint64{}
		}
		p = new([bitsetPage / 64]uint64)
		b.pages[ip/bitsetPage] = p
	}
	if v {
		p[ip%bitsetPage/64] |= 1 << (ip % 64)
	} else {
		p[ip%bitsetPage/64] &^= 1 << (ip % 64)
	}
}

// heldOffer is an offer in memory, linked into its subnet's offerList.
type heldOffer struct {
	Lease
	older, newer *heldOffer
	// taken: the address was taken from another client's offer because
	// the pools were full; the first REQUEST for it wins (bind).
	taken bool
}

// offerList is a subnet's held offers, oldest first. Offers all hold for
// OfferHold, so the oldest is also the first to lapse.
type offerList struct {
	oldest, newest *heldOffer
	n              int
}

func (l *offerList) pushNewest(o *heldOffer) {
	o.older, o.newer = l.newest, nil
	if l.newest != nil {
		l.newest.newer = o
	} else {
		l.oldest = o
	}
	l.newest = o
	l.n++
}

func (l *offerList) remove(o *heldOffer) {
	if o.older != nil {
		o.older.newer = o.newer
	} else {
		l.oldest = o.newer
	}
	if o.newer != nil {
		o.newer.older = o.older
	} else {
		l.newest = o.older
	}
	o.older, o.newer = nil, nil
	l.n--
}

// allocate finds a free pool address of s for a new offer, in the order
// described at the top of this file, or returns the zero Addr when every
// pool address is bound, quarantined, reserved or excluded. taken says
// the address was another client's offer. m.mu is held.
func (m *Manager) allocate(s *subnet, now time.Time) (ip netip.Addr, taken bool) {
	if ip := m.fresh(s, now); ip.IsValid() {
		return ip, false
	}
	m.lapse(s, now)
	nanos := now.UnixNano()
	for {
		q := &s.unused
		if _, ok := q.ready(nanos); !ok {
			q = s.readiest(nanos)
		}
		if q == nil {
			break
		}
		m.probes++
		ip := addrOf(q.pop().ip)
		if m.usableFor(s, ip, "", now, true) {
			return ip, false
		}
		if r := m.records[ip]; r != nil && r.Active(now) {
			m.requeue(s, ip, now) // renewed, or bound again: ready later
		}
	}
	ip = m.takeOldestOffer(s)
	return ip, ip.IsValid()
}

// fresh walks the pools' never-used addresses from where the last walk
// stopped; m.mu is held.
func (m *Manager) fresh(s *subnet, now time.Time) netip.Addr {
	rank, count := m.share(s)
	for pi, p := range s.Pools {
		first, n := u32(p.First), uint32(p.Size())
		for s.next[pi] < n {
			off := (s.next[pi] + s.start[pi]) % n
			if count > 1 {
				off = shareOrder(s.next[pi], n, rank, count)
			}
			ip := addrOf(first + off)
			s.next[pi]++
			m.probes++
			if m.records[ip] == nil && m.usableFor(s, ip, "", now, false) {
				return ip
			}
		}
	}
	return netip.Addr{}
}

// readiest is the queue among free, expiring and quarantine whose head
// became free longest ago, or nil when no head is free yet.
func (s *subnet) readiest(now int64) *addrQueue {
	var best *addrQueue
	var at int64
	for _, q := range []*addrQueue{&s.free, &s.expiring, &s.quarantine} {
		if h, ok := q.ready(now); ok && (best == nil || h.at < at) {
			best, at = q, h.at
		}
	}
	return best
}

// takeOldestOffer takes the oldest held offer of s from its client, for
// when the pool has nothing else: a DISCOVER flood fills a pool with offers
// that no REQUEST follows, and they must not keep real clients out.
func (m *Manager) takeOldestOffer(s *subnet) netip.Addr {
	o := s.offers.oldest
	if o == nil {
		return netip.Addr{}
	}
	m.probes++
	ip := o.IP
	m.dropOffer(s, ip)
	s.offersTaken++
	return ip
}

// lapse removes the offers of s whose hold is over and queues their
// addresses; they are at the head of the list. m.mu is held.
func (m *Manager) lapse(s *subnet, now time.Time) {
	for o := s.offers.oldest; o != nil && !o.Active(now); o = s.offers.oldest {
		m.probes++
		ip := o.IP
		m.dropOffer(s, ip)
		m.requeue(s, ip, now)
	}
}

// dropOffer removes the offer held on ip, if any, and forgets it for its
// client; m.mu is held.
func (m *Manager) dropOffer(s *subnet, ip netip.Addr) {
	o := m.offers[ip]
	if o == nil {
		return
	}
	delete(m.offers, ip)
	s.offers.remove(o)
	ref := clientRef{s.Prefix, o.owner()}
	if m.offerOf[ref] == ip {
		delete(m.offerOf, ref)
	}
}

// holdOffer records o as held, newest, and drops the oldest offers of s
// beyond MaxOffers, so that a flood of DISCOVERs holds a bounded amount of
// memory; m.mu is held.
func (m *Manager) holdOffer(s *subnet, o *heldOffer, now time.Time) {
	m.offers[o.IP] = o
	m.offerOf[clientRef{s.Prefix, o.owner()}] = o.IP
	s.offers.pushNewest(o)
	for s.offers.n > m.cfg.MaxOffers {
		ip := s.offers.oldest.IP
		m.dropOffer(s, ip)
		m.requeue(s, ip, now)
		s.offersDropped++
	}
}

// requeue puts ip in the queue that says when it is free next, by its
// record: none (unused), bound (expiring), declined (quarantine), released
// or expired (free). m.mu is held. Addresses outside the pools are never
// allocated, so never queued.
func (m *Manager) requeue(s *subnet, ip netip.Addr, now time.Time) {
	if !s.inPool(ip) {
		return
	}
	v := u32(ip)
	r := m.records[ip]
	switch {
	case r == nil:
		s.unused.push(v, now)
	case r.State == Bound:
		// A queue stays in order only if its entries are ready in the
		// order they were pushed; a lease longer than the subnet's lease
		// time (one written before the configuration changed) is looked
		// at again after one lease time instead of holding up the rest.
		s.expiring.push(v, earliest(r.Expires, now.Add(s.LeaseTime)))
	case r.State == Declined:
		s.quarantine.push(v, earliest(r.Expires, now.Add(m.cfg.DeclineHold)))
	default:
		s.free.push(v, r.Expires)
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// queueLoaded queues the records read at Open, each subnet's in the order
// they became or become free, so that the FIFOs start in order. m.mu is
// held (or the Manager not yet shared).
func (m *Manager) queueLoaded(now time.Time) {
	recs := make([]*Lease, 0, len(m.records))
	for _, r := range m.records {
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b *Lease) int { return a.Expires.Compare(b.Expires) })
	for _, r := range recs {
		if s := m.subnetOf(r.IP); s != nil {
			m.requeue(s, r.IP, now)
		}
	}
}

// share is this server's share of the pools (Config.Share), rank of count;
// 0 of 1 without one. When it changes (a server joined or left), the walks
// of never-used addresses start again in the new order: addresses already
// leased or offered are skipped, so that costs one pass, once. m.mu is held.
func (m *Manager) share(s *subnet) (rank, count int) {
	rank, count = 0, 1
	if m.cfg.Share != nil {
		if r, c := m.cfg.Share(); c > 1 && r >= 0 && r < c {
			rank, count = r, c
		}
	}
	if rank != s.shareRank || count != s.shareCount {
		if s.shareCount != 0 {
			clear(s.next)
		}
		s.shareRank, s.shareCount = rank, count
	}
	return rank, count
}

// shareOrder is the k-th offset of a pool of n addresses in the walk of the
// server of rank among count: first the offsets ≡ rank (mod count), its own
// share, then those of rank+1, and so on, each in increasing order. So two
// servers walking the same pool hand out disjoint addresses until one has
// used up its share.
func shareOrder(k, n uint32, rank, count int) uint32 {
	c := uint32(count)
	for i := range c {
		q := (uint32(rank) + i) % c
		size := uint32(0)
		if q < n {
			size = (n - q + c - 1) / c
		}
		if k < size {
			return q + c*k
		}
		k -= size
	}
	return n // not reached for k < n
}
