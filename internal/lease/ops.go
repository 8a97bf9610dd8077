package lease

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Ack binds ip to c for the subnet's lease time and returns once the lease
// is durable in the store: only then may the DHCP server send its DHCPACK.
// It serves every DHCPREQUEST (RFC 2131 §4.3.2): SELECTING after our offer,
// INIT-REBOOT, RENEWING and REBINDING. ip is granted when it is c's (lease,
// offer or reservation), or free in a pool of subnet and c has no
// reservation elsewhere; a client's earlier lease on another address of the
// subnet is released. Errors: ErrWrongSubnet, ErrNotAvailable, ErrNoSubnet
// (NAK the first two), or the store's.
func (m *Manager) Ack(ctx context.Context, subnet netip.Prefix, c Client, ip netip.Addr) (Lease, error) {
	var got Lease
	done, ch := waiter()
	err := m.AckAsync(subnet, c, ip, func(l Lease, err error) { got = l; done(err) })
	if err != nil {
		return Lease{}, err
	}
	if err := wait(ctx, ch); err != nil {
		return Lease{}, err
	}
	return got, nil
}

// AckAsync is Ack without the wait: it decides at once, returning the
// refusals of Ack, and when ip is granted it calls then with the lease once
// the lease is durable, or with the store's error.
//
// then runs in one of two places. A renewal answered from a lease that is
// already durable (Config.CacheThreshold) needs no write: then runs before
// AckAsync returns, on the caller's goroutine, without waiting for the
// writes of other clients. Otherwise then runs on the Manager's committer
// goroutine, after each other in commit order, before the next commit: it
// must be quick and must not wait for the Manager (a blocking Ack or Release
// there would wait for itself).
func (m *Manager) AckAsync(subnet netip.Prefix, c Client, ip netip.Addr, then func(Lease, error)) error {
	m.mu.Lock()
	cached, err := m.bind(subnet, c, ip, then)
	m.mu.Unlock()
	if cached != nil {
		then(*cached, nil)
	}
	return err
}

// bind updates memory and queues the writes; m.mu is held. A renewal that
// needs no write returns its lease instead, for the caller to answer once
// m.mu is released.
func (m *Manager) bind(subnet netip.Prefix, c Client, ip netip.Addr, then func(Lease, error)) (*Lease, error) {
	s, err := m.subnet(subnet)
	if err != nil {
		return nil, err
	}
	if !s.Prefix.Contains(ip) {
		return nil, fmt.Errorf("%v for %v: %w %v", ip, c.MAC, ErrWrongSubnet, s.Prefix)
	}
	now := m.now()
	key := c.key()
	ref := clientRef{s.Prefix, key}
	if o := m.offers[ip]; o != nil && (o.taken || m.sh != nil) && o.owner() != key {
		// An offer taken when the pools were full holds nothing against
		// a REQUEST: the first client to ask gets the address (alloc.go).
		// Nor does any offer on a shared store: this server's memory may
		// be behind another server that ACKed the address to this client,
		// and the compare-and-swap decides (shared.go).
		m.dropOffer(s, ip)
		m.requeue(s, ip, now)
	}
	res, reserved := s.resByMAC[macString(c.MAC)]
	switch {
	case reserved && res.IP == ip:
		if !m.reservationFree(res, key, now) {
			return nil, fmt.Errorf("%v (reserved for %v) is still leased to another client: %w", ip, c.MAC, ErrNotAvailable)
		}
	case reserved && m.reservationFree(res, key, now):
		// NAK, so that the client starts over and gets its reservation.
		return nil, fmt.Errorf("%v asked for %v but has %v reserved: %w", c.MAC, ip, res.IP, ErrNotAvailable)
	case !m.usableFor(s, ip, key, now, true):
		return nil, fmt.Errorf("%v for %v: %w", ip, c.MAC, ErrNotAvailable)
	}

	if l := m.records[ip]; l != nil && m.cached(l, s, c, key, reserved && res.IP == ip, now) {
		m.dropClientOffer(s, ref, ip, now)
		granted := *l
		return &granted, nil
	}

	var ops []op
	var stored []*Lease
	if prev, ok := m.byClient[ref]; ok && prev != ip {
		if r := m.records[prev]; r != nil && r.owner() == key && r.State == Bound {
			rel := *r
			rel.State, rel.Expires = Released, now
			m.records[prev] = &rel
			m.requeue(s, prev, now)
			ops = m.putOps(ops, &rel)
			stored = append(stored, &rel)
		}
	}
	old := m.records[ip]
	if old != nil && old.owner() != key {
		m.forget(clientRef{s.Prefix, old.owner()}, ip)
	}
	l := &Lease{
		IP: ip, Subnet: s.Prefix, MAC: MAC(c.MAC), ClientID: clientID(c), Hostname: c.Hostname,
		State: Bound, Start: now, Expires: now.Add(s.LeaseTime), Relay: c.Relay,
	}
	if reserved && res.IP == ip {
		l.Reserved = true
		if res.Hostname != "" {
			l.Hostname = res.Hostname
		}
	}
	m.records[ip] = l
	m.byClient[ref] = ip
	m.dropClientOffer(s, ref, ip, now)
	m.dropOffer(s, ip) // another client's lapsed offer; ours was dropped just above
	m.requeue(s, ip, now)
	ops = m.putOps(ops, l)
	granted := *l
	m.submit(write{ops: ops, client: true, done: func(err error) {
		// A shared store (shared.go): the write lost to another server's,
		// or the store failed. If what is stored is this client's lease
		// on ip, unexpired (another server ACKed it, or it is the lease
		// this renewal could not extend), ACK that, with its time left.
		var we *writeError
		if errors.As(err, &we) && we.cur != nil && we.cur.State == Bound && we.cur.owner() == key &&
			we.cur.IP == ip && we.cur.Active(m.now()) {
			if !we.conflict {
				m.offlineAcks.Add(1)
			}
			then(*we.cur, nil)
			return
		}
		then(granted, err)
	}}, append(stored, l)...)
	return nil, nil
}

// dropClientOffer drops the offer held for ref, now that it REQUESTed ip;
// the offered address, if another, is free again. m.mu is held.
func (m *Manager) dropClientOffer(s *subnet, ref clientRef, ip netip.Addr, now time.Time) {
	o, ok := m.offerOf[ref]
	if !ok {
		return
	}
	m.dropOffer(s, o)
	if o != ip {
		m.requeue(s, o, now)
	}
}

// cached reports whether l, ip's record, can answer c's request as it is:
// durable, bound to c with nothing that the new lease would change, and
// younger than the cache threshold of its lease time
// (Config.CacheThreshold). A lease whose write is still being committed, or
// failed, is written again: its ACK then waits for that write.
func (m *Manager) cached(l *Lease, s *subnet, c Client, key string, reserved bool, now time.Time) bool {
	down := m.sh != nil && m.c.storeDown() // the store failed: renew from memory (shared.go)
	if (m.cfg.CacheThreshold <= 0 && !down) || l.seq > m.c.durable.Load() ||
		l.State != Bound || l.owner() != key || l.Subnet != s.Prefix ||
		l.Reserved != reserved || l.Relay != c.Relay || !now.Before(l.Expires) || now.Before(l.Start) {
		return false
	}
	if !reserved && l.Hostname != c.Hostname {
		return false
	}
	if !slices.Equal(l.MAC, MAC(c.MAC)) || l.ClientID != clientID(c) {
		return false
	}
	if down {
		m.offlineAcks.Add(1)
		return true // within its lease (checked above): ACKed with the time it has left
	}
	lifetime := l.Expires.Sub(l.Start)
	return float64(now.Sub(l.Start)) < m.cfg.CacheThreshold*float64(lifetime)
}

// submit numbers w and queues it; recs are the records it stores, which
// remember its number (see cached). m.mu is held, so numbers follow queue
// order.
func (m *Manager) submit(w write, recs ...*Lease) {
	m.seq++
	w.seq = m.seq
	for _, r := range recs {
		r.seq = m.seq
	}
	w.recs = recs
	if m.sh != nil {
		m.sh.queued(w.ops)
	}
	m.c.submit(w)
}

// putOps appends the write that stores l.
func (m *Manager) putOps(ops []op, l *Lease) []op {
	b, err := encode(l)
	if err != nil {
		panic(fmt.Sprintf("lease: encode %v: %v", l.IP, err)) // cannot happen: plain fields
	}
	return append(ops, op{key: leaseKey(l.IP), value: b, ip: l.IP, rec: l})
}

// deleteOps appends the write that removes l.
func deleteOps(ops []op, l *Lease) []op {
	return append(ops, op{key: leaseKey(l.IP), ip: l.IP})
}

// forget drops ref's pointer to ip, when it still points there.
func (m *Manager) forget(ref clientRef, ip netip.Addr) {
	if m.byClient[ref] == ip {
		delete(m.byClient, ref)
	}
}

// Release ends c's lease on ip (DHCPRELEASE, RFC 2131 §4.3.4). The address
// is free at once; the record stays, released, for ReclaimHold.
func (m *Manager) Release(ctx context.Context, c Client, ip netip.Addr) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	r := m.records[ip]
	if r == nil || r.owner() != c.key() || r.State != Bound {
		m.mu.Unlock()
		return fmt.Errorf("release %v by %v: %w", ip, c.MAC, ErrNotOwner)
	}
	rel := *r
	rel.State, rel.Expires = Released, m.now()
	m.records[ip] = &rel
	if s := m.subnetOf(ip); s != nil {
		m.requeue(s, ip, rel.Expires)
	}
	done, ch := waiter()
	m.submit(write{ops: m.putOps(nil, &rel), client: true, done: done}, &rel)
	m.mu.Unlock()
	return wait(ctx, ch)
}

// Decline quarantines ip for DeclineHold because c found it in use
// (DHCPDECLINE, RFC 2131 §4.3.3). c must hold ip, as a lease or an offer.
func (m *Manager) Decline(ctx context.Context, c Client, ip netip.Addr) error {
	m.mu.Lock()
	key := c.key()
	r, o := m.records[ip], m.offers[ip]
	if !m.closed && (r == nil || r.owner() != key) && (o == nil || o.owner() != key) {
		m.mu.Unlock()
		return fmt.Errorf("decline %v by %v: %w", ip, c.MAC, ErrNotOwner)
	}
	done, err := m.quarantine(ip, MAC(c.MAC))
	m.mu.Unlock()
	if err != nil {
		return err
	}
	return wait(ctx, done)
}

// Conflict quarantines ip like Decline, for when the server itself found it
// in use (a ping before offering it was answered). It is not an error when ip
// is in no subnet.
func (m *Manager) Conflict(ctx context.Context, ip netip.Addr) error {
	m.mu.Lock()
	done, err := m.quarantine(ip, nil)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	return wait(ctx, done)
}

// quarantine records ip as declined; m.mu is held.
func (m *Manager) quarantine(ip netip.Addr, by MAC) (<-chan error, error) {
	if m.closed {
		return nil, ErrClosed
	}
	s := m.subnetOf(ip)
	if s == nil {
		return nil, fmt.Errorf("quarantine %v: %w", ip, ErrNoSubnet)
	}
	now := m.now()
	old := m.records[ip]
	if old != nil {
		m.forget(clientRef{s.Prefix, old.owner()}, ip)
	}
	m.dropOffer(s, ip)
	d := &Lease{IP: ip, Subnet: s.Prefix, MAC: by, State: Declined, Start: now, Expires: now.Add(m.cfg.DeclineHold)}
	m.records[ip] = d
	m.requeue(s, ip, now)
	done, ch := waiter()
	m.submit(write{ops: m.putOps(nil, d), client: true, done: done}, d)
	return ch, nil
}

// wait waits for a queued write's commit, or for ctx. When ctx ends first
// the write still commits; the caller only stops waiting.
func wait(ctx context.Context, done <-chan error) error {
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("lease store: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reclaimLoop runs Reclaim every ReclaimEvery until Close.
func (m *Manager) reclaimLoop() {
	defer close(m.reclaimDone)
	t := time.NewTicker(m.cfg.ReclaimEvery)
	defer t.Stop()
	for {
		select {
		case <-m.stopReclaim:
			return
		case <-t.C:
			if n := m.Reclaim(); n > 0 {
				m.log.Info("expired leases reclaimed", "count", n)
			}
		}
	}
}

// Reclaim deletes the records of leases that expired or were released more
// than ReclaimHold ago and of quarantines that are over, and forgets lapsed
// offers. It returns how many records it deleted. The deletes are queued;
// nothing waits for them (a crash before they commit only delays them).
func (m *Manager) Reclaim() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0
	}
	now := m.now()
	for _, s := range m.subnets {
		m.lapse(s, now)
	}
	var ops []op
	n := 0
	for ip, r := range m.records {
		gone := false
		switch r.StateAt(now) {
		case Expired, Released:
			gone = now.Sub(r.Expires) >= m.cfg.ReclaimHold
		case Declined:
			gone = !now.Before(r.Expires)
		}
		if !gone {
			continue
		}
		delete(m.records, ip)
		if s := m.subnetOf(ip); s != nil {
			m.forget(clientRef{s.Prefix, r.owner()}, ip)
		}
		ops = deleteOps(ops, r)
		n++
	}
	// At most 64 deletes per write: a write goes in one store transaction,
	// and etcd's are capped (MaxTxnOps, 128).
	for len(ops) > 0 {
		k := min(len(ops), 64)
		m.submit(write{ops: ops[:k:k]})
		ops = ops[k:]
	}
	return n
}
