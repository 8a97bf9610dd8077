package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"rackboot/internal/store"
)

// Config is what a Manager serves. Zero durations take the defaults below.
type Config struct {
	Subnets []Subnet
	// Exclude lists addresses never handed out, even inside a pool: the
	// server's own, routers.
	Exclude []netip.Addr
	// OfferHold is how long an offered address stays set aside for the
	// client it was offered to (default 30s).
	OfferHold time.Duration
	// DeclineHold is how long a declined address stays in quarantine
	// (default 24h, as Kea's decline-probation-period).
	DeclineHold time.Duration
	// ReclaimHold is how long an expired or released lease is remembered
	// for its client before its record is deleted (default 1h). The address
	// is free for others from the moment it expires, but addresses never
	// used are handed out first, so a client coming back soon usually finds
	// its old one.
	ReclaimHold time.Duration
	// ReclaimEvery is how often expired records are looked for (default 1m).
	ReclaimEvery time.Duration
	// CacheThreshold, when above 0, answers a renewal from the lease as it
	// is, without a write, while the lease is younger than this fraction of
	// its time (Kea's lease caching, cache-threshold): the iPXE that a PXE
	// ROM loads asks again for the address the ROM was just given, and a
	// storm of such renewals would otherwise cost a commit each. The ACK
	// then gives the time left. 0 writes every renewal.
	CacheThreshold float64
	// MaxOffers caps the offers held at once per subnet (default 16384,
	// about 6 MiB): beyond it the oldest offer is dropped. Offers are held
	// in memory for OfferHold each, and a flood of DISCOVERs from made-up
	// MACs would otherwise hold one per DISCOVER. A client whose offer was
	// dropped still gets its address if it REQUESTs it while it is free.
	MaxOffers int
	// MaxBatch caps the writes in one group commit (default 4096).
	MaxBatch int
	// Spread, when set (the server's name), moves where each pool's walk
	// of never-used addresses starts by a hash of it, so that servers
	// sharing a store (shared.go) seldom offer the same address at once.
	Spread string
	// Share, when set, says which share of each pool this server walks
	// first: its rank among count servers sharing the store. Servers
	// then hand out never-used addresses from disjoint shares (address
	// offsets ≡ rank mod count) and race for an address only once their
	// own share is used up; Spread then plays no part, and serves only
	// while Share says one server (before the cluster is joined, or while
	// this server is not in its view). Called on each walk, so a change of
	// the servers alive takes effect at once.
	Share func() (rank, count int)
	// Now is the clock; nil means time.Now. Tests pass a fake one.
	Now    func() time.Time
	Logger *slog.Logger
}

// Manager allocates addresses and keeps the lease records. Its methods are
// safe for concurrent use.
type Manager struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	st  store.Store
	c   *committer

	mu       sync.Mutex
	closed   bool
	subnets  []*subnet
	excluded map[netip.Addr]bool
	records  map[netip.Addr]*Lease     // what is in the store, or about to be
	offers   map[netip.Addr]*heldOffer // memory only; also in their subnet's offer list
	byClient map[clientRef]netip.Addr
	offerOf  map[clientRef]netip.Addr
	seq      uint64 // the last write's number (submit)
	probes   uint64 // addresses looked at by allocate (alloc.go): tests count them

	// sh is the state of a store other servers write too (shared.go);
	// nil for bbolt.
	sh *sharedState
	// conflicts: clients' writes that lost to another server's;
	// refused: clients' writes the store failed; offlineAcks: renewals
	// answered from memory while the store failed; remote: other
	// servers' writes taken from the watch.
	conflicts, refused, offlineAcks, remote atomic.Uint64

	stopReclaim chan struct{}
	reclaimDone chan struct{}
}

// clientRef is one client in one subnet: a client has at most one lease per
// subnet.
type clientRef struct {
	subnet netip.Prefix
	key    string
}

type subnet struct {
	Subnet
	resByMAC map[string]Reservation
	resByIP  map[netip.Addr]Reservation

	// The allocator's state (alloc.go).
	next                       []uint32 // per pool: offsets below it were looked at once
	start                      []uint32 // per pool: where the walk starts (Config.Spread)
	shareRank, shareCount      int      // the share next[] walks (Config.Share); see fresh
	unused, free               addrQueue
	expiring, quarantine       addrQueue
	offers                     offerList
	exhausted                  uint64 // offers refused: nothing left to offer
	offersTaken, offersDropped uint64 // held offers reused when full, dropped over MaxOffers
}

// Open loads the leases in st and starts the group committer and the
// reclaim loop. Close stops them.
func Open(ctx context.Context, st store.Store, cfg Config) (*Manager, error) {
	if cfg.OfferHold <= 0 {
		cfg.OfferHold = 30 * time.Second
	}
	if cfg.DeclineHold <= 0 {
		cfg.DeclineHold = 24 * time.Hour
	}
	if cfg.ReclaimHold <= 0 {
		cfg.ReclaimHold = time.Hour
	}
	if cfg.ReclaimEvery <= 0 {
		cfg.ReclaimEvery = time.Minute
	}
	if cfg.MaxOffers <= 0 {
		cfg.MaxOffers = 16384
	}
	m := &Manager{
		cfg:         cfg,
		log:         cfg.Logger,
		now:         cfg.Now,
		st:          st,
		excluded:    map[netip.Addr]bool{},
		records:     map[netip.Addr]*Lease{},
		offers:      map[netip.Addr]*heldOffer{},
		byClient:    map[clientRef]netip.Addr{},
		offerOf:     map[clientRef]netip.Addr{},
		stopReclaim: make(chan struct{}),
		reclaimDone: make(chan struct{}),
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.now == nil {
		m.now = time.Now
	}
	for _, a := range cfg.Exclude {
		m.excluded[a] = true
	}
	for _, s := range cfg.Subnets {
		sn, err := newSubnet(s, m.subnets)
		if err != nil {
			return nil, err
		}
		for i, p := range sn.Pools {
			sn.start[i] = spreadStart(cfg.Spread, p)
		}
		m.subnets = append(m.subnets, sn)
	}
	var events <-chan store.Event
	var wctx context.Context
	if cc, ok := st.(store.CondCommitter); ok {
		// Other servers write leases too: watch before reading, so that
		// nothing written between the two is missed (events already read
		// are skipped by revision).
		m.sh = newShared(cc)
		wctx, m.sh.cancel = context.WithCancel(context.Background())
		m.sh.done = make(chan struct{})
		events = st.Watch(wctx, KeyPrefix)
	}
	if err := m.load(ctx); err != nil {
		if m.sh != nil {
			m.sh.cancel()
		}
		return nil, err
	}
	m.c = newCommitter(st, cfg.MaxBatch, func(err error) {
		m.log.Error("lease store commit failed: the affected clients get no ACK", "err", err)
	})
	m.c.markFailed = m.markFailed
	if m.sh != nil {
		m.c.shared = m.commitShared
		go m.follow(wctx, events)
	}
	go m.c.run()
	go m.reclaimLoop()
	return m, nil
}

func newSubnet(s Subnet, others []*subnet) (*subnet, error) {
	p := s.Prefix
	if !p.IsValid() || !p.Addr().Is4() || p != p.Masked() {
		return nil, fmt.Errorf("subnet %v: want an IPv4 network like 10.0.0.0/24", p)
	}
	for _, o := range others {
		if o.Prefix.Overlaps(p) {
			return nil, fmt.Errorf("subnet %v overlaps subnet %v", p, o.Prefix)
		}
	}
	if s.LeaseTime <= 0 {
		return nil, fmt.Errorf("subnet %v: lease time %v must be positive", p, s.LeaseTime)
	}
	sn := &subnet{Subnet: s, resByMAC: map[string]Reservation{}, resByIP: map[netip.Addr]Reservation{},
		next: make([]uint32, len(s.Pools)), start: make([]uint32, len(s.Pools))}
	for i, r := range s.Pools {
		if !p.Contains(r.First) || !p.Contains(r.Last) || r.Last.Less(r.First) {
			return nil, fmt.Errorf("subnet %v: pool %v is not a range inside it", p, r)
		}
		for _, q := range s.Pools[:i] {
			if r.Contains(q.First) || q.Contains(r.First) {
				return nil, fmt.Errorf("subnet %v: pools %v and %v overlap", p, q, r)
			}
		}
	}
	for _, r := range s.Reservations {
		if !p.Contains(r.IP) {
			return nil, fmt.Errorf("subnet %v: reservation %v for %v is outside it", p, r.IP, r.MAC)
		}
		mac := macString(r.MAC)
		if _, dup := sn.resByMAC[mac]; dup {
			return nil, fmt.Errorf("subnet %v: two reservations for %v", p, r.MAC)
		}
		if o, dup := sn.resByIP[r.IP]; dup {
			return nil, fmt.Errorf("subnet %v: %v reserved for both %v and %v", p, r.IP, o.MAC, r.MAC)
		}
		sn.resByMAC[mac] = r
		sn.resByIP[r.IP] = r
	}
	return sn, nil
}

// load reads every stored lease into memory.
func (m *Manager) load(ctx context.Context) error {
	kvs, err := m.st.List(ctx, KeyPrefix)
	if err != nil {
		return fmt.Errorf("load leases: %w", err)
	}
	for _, kv := range kvs {
		l, err := decode(kv.Value)
		if err != nil {
			m.log.Warn("skipping a lease record that cannot be read", "key", kv.Key, "err", err)
			continue
		}
		m.records[l.IP] = &l
		if m.sh != nil {
			m.sh.known[l.IP] = knownRec{l: &l, mod: kv.Revision, seen: kv.Revision}
		}
		s := m.subnetOf(l.IP)
		if s == nil || l.State == Declined {
			continue
		}
		ref := clientRef{s.Prefix, l.owner()}
		// A client has one lease per subnet; if the store holds several
		// (released, then bound to another), the newest wins.
		if prev, ok := m.byClient[ref]; !ok || m.records[prev].Start.Before(l.Start) {
			m.byClient[ref] = l.IP
		}
	}
	m.queueLoaded(m.now())
	m.log.Info("leases loaded", "records", len(kvs), "subnets", len(m.subnets))
	return nil
}

// Close commits every queued write and stops the Manager. It does not close
// the store.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	close(m.stopReclaim)
	<-m.reclaimDone
	m.c.close()
	if m.sh != nil {
		m.sh.cancel()
		<-m.sh.done
	}
	return nil
}

// markFailed marks the records of a batch whose commit failed as not
// durable: a renewal of one is written again, never answered from memory.
func (m *Manager) markFailed(batch []write) {
	m.c.lockDraining(&m.mu)
	defer m.mu.Unlock()
	for _, w := range batch {
		for _, r := range w.recs {
			r.seq = math.MaxUint64
		}
		if w.client {
			m.refused.Add(1)
		}
	}
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("lease manager is closed")

// Now is the Manager's clock (Config.Now): the DHCP server reckons the time
// left on a lease with it.
func (m *Manager) Now() time.Time { return m.now() }

// SubnetFor returns the configured subnet that contains addr: the relay's
// giaddr, or one of the server's own addresses for clients on its link.
func (m *Manager) SubnetFor(addr netip.Addr) (Subnet, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.subnetOf(addr); s != nil {
		return s.Subnet, true
	}
	return Subnet{}, false
}

func (m *Manager) subnetOf(addr netip.Addr) *subnet {
	for _, s := range m.subnets {
		if s.Prefix.Contains(addr) {
			return s
		}
	}
	return nil
}

func (m *Manager) subnet(p netip.Prefix) (*subnet, error) {
	if m.closed {
		return nil, ErrClosed
	}
	for _, s := range m.subnets {
		if s.Prefix == p {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%w: %v", ErrNoSubnet, p)
}

// Offer is an address proposed to a client.
type Offer struct {
	Lease
	// New is true when the address was not already the client's (its lease
	// or its reservation): the one case where a ping check makes sense.
	New bool
}

// Offer picks an address in subnet for c and sets it aside for OfferHold
// (RFC 2131 §4.3.1): c's reservation, else its current or last lease, else
// the address it asked for if free, else a free one from the pools
// (allocate: addresses never used first, and when the pools are full the
// oldest offer held for another client). Nothing is written to the store.
func (m *Manager) Offer(subnet netip.Prefix, c Client, requested netip.Addr) (Offer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.subnet(subnet)
	if err != nil {
		return Offer{}, err
	}
	now := m.now()
	key := c.key()
	ref := clientRef{s.Prefix, key}
	res, reserved := s.resByMAC[macString(c.MAC)]
	var ip netip.Addr
	isNew, taken := false, false
	switch {
	case reserved && m.reservationFree(res, key, now):
		ip = res.IP
	case m.usableFor(s, m.byClient[ref], key, now, true):
		ip = m.byClient[ref]
	case m.usableFor(s, m.offerOf[ref], key, now, true):
		ip = m.offerOf[ref]
	case m.usableFor(s, requested, key, now, true):
		ip, isNew = requested, true
	default:
		ip, taken = m.allocate(s, now)
		if !ip.IsValid() {
			s.exhausted++
			return Offer{}, fmt.Errorf("subnet %v: %w", s.Prefix, ErrPoolExhausted)
		}
		isNew = true
	}
	if r := m.records[ip]; r != nil && r.owner() == key && r.State == Bound && r.Active(now) {
		return Offer{Lease: *r}, nil // its lease, as it is
	}
	if old, ok := m.offerOf[ref]; ok && old != ip {
		m.dropOffer(s, old)
		m.requeue(s, old, now)
	}
	m.dropOffer(s, ip) // its own offer, renewed below, or another's that lapsed
	o := &heldOffer{Lease: Lease{
		IP: ip, Subnet: s.Prefix, MAC: MAC(c.MAC), ClientID: clientID(c), Hostname: c.Hostname,
		State: Offered, Start: now, Expires: now.Add(m.cfg.OfferHold), Relay: c.Relay,
	}, taken: taken}
	if o.Reserved = reserved && ip == res.IP; o.Reserved && res.Hostname != "" {
		o.Hostname = res.Hostname
	}
	m.holdOffer(s, o, now)
	return Offer{Lease: o.Lease, New: isNew}, nil
}

// usableFor reports whether ip may be given to the client with key in s now:
// inside s, not excluded, not another's reservation, not quarantined, not
// held by another client. inPool also requires ip to be in a pool (a client
// asking for an address of its choosing gets only pool addresses).
func (m *Manager) usableFor(s *subnet, ip netip.Addr, key string, now time.Time, inPool bool) bool {
	if !ip.IsValid() || !s.Prefix.Contains(ip) || m.excluded[ip] || s.edge(ip) {
		return false
	}
	if _, ok := s.resByIP[ip]; ok {
		return false // the client's own reservation is handled before
	}
	if inPool && !s.inPool(ip) {
		return false
	}
	if o := m.offers[ip]; o != nil && o.Active(now) && o.owner() != key {
		return false
	}
	if r := m.records[ip]; r != nil && r.Active(now) && (r.State == Declined || r.owner() != key) {
		return false
	}
	return true
}

// reservationFree reports whether the reserved address can go to its client:
// a reservation added while another client held the address waits for that
// lease to end (the client gets a pool address meanwhile).
func (m *Manager) reservationFree(res Reservation, key string, now time.Time) bool {
	if r := m.records[res.IP]; r != nil && r.Active(now) && r.owner() != key {
		return false
	}
	if o := m.offers[res.IP]; o != nil && o.Active(now) && o.owner() != key {
		return false
	}
	return true
}

// edge reports the subnet's network and broadcast addresses, which no host
// may have (RFC 919, RFC 922); /31 and /32 have none (RFC 3021).
func (s *subnet) edge(ip netip.Addr) bool {
	if s.Prefix.Bits() >= 31 {
		return false
	}
	return ip == s.Prefix.Addr() || ip == lastAddr(s.Prefix)
}

func (s *subnet) inPool(ip netip.Addr) bool {
	for _, p := range s.Pools {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func lastAddr(p netip.Prefix) netip.Addr {
	return addrOf(u32(p.Addr()) | (1<<(32-p.Bits()) - 1))
}

// macString is a MAC as a map key.
func macString(hw net.HardwareAddr) string { return string(hw) }

func clientID(c Client) string {
	if len(c.ClientID) == 0 {
		return ""
	}
	return c.key()[len("id:"):]
}

// List returns every lease record, ordered by address. Offers are not
// leases and are left out.
func (m *Manager) List() []Lease {
	m.mu.Lock()
	out := make([]Lease, 0, len(m.records))
	for _, r := range m.records {
		out = append(out, *r)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Lease) int { return a.IP.Compare(b.IP) })
	return out
}

// List reads every lease record from st, ordered by address: for when no
// Manager runs (the CLI with the server stopped).
func List(ctx context.Context, st store.Store) ([]Lease, error) {
	kvs, err := st.List(ctx, KeyPrefix)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	out := make([]Lease, 0, len(kvs))
	for _, kv := range kvs {
		l, err := decode(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Lease) int { return a.IP.Compare(b.IP) })
	return out, nil
}

// Stats are counters for metrics and benchmarks.
type Stats struct {
	Records    int           // lease records in memory (= in the store once committed)
	ByState    map[State]int // records by StateAt(now)
	Offers     int           // offers still held
	Commits    uint64        // store transactions run by the group committer
	Writes     uint64        // writes they carried: Writes/Commits is the mean batch
	CommitTime time.Duration // time spent in them
	MaxCommit  time.Duration // the longest of them
	MaxBatch   int           // the most writes one of them carried
	// Conflicts counts clients' writes that lost to another server's
	// write of the same lease (a shared store); Refused, clients' writes
	// the store failed; OfflineRenewals, renewals answered from memory
	// while the store failed; Remote, other servers' lease writes taken
	// from the watch.
	Conflicts, Refused, OfflineRenewals, Remote uint64
}

// Stats returns the current counters.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	now := m.now()
	st := Stats{Records: len(m.records), ByState: map[State]int{}}
	for _, r := range m.records {
		st.ByState[r.StateAt(now)]++
	}
	for _, o := range m.offers {
		if o.Active(now) {
			st.Offers++
		}
	}
	m.mu.Unlock()
	st.Commits = m.c.commits.Load()
	st.Writes = m.c.writes.Load()
	st.CommitTime = time.Duration(m.c.commitTime.Load())
	st.MaxCommit = time.Duration(m.c.maxCommit.Load())
	st.MaxBatch = int(m.c.biggest.Load())
	st.Conflicts, st.Refused = m.conflicts.Load(), m.refused.Load()
	st.OfflineRenewals, st.Remote = m.offlineAcks.Load(), m.remote.Load()
	return st
}
