package lease

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"rackboot/internal/store"
)

// Full DHCP, active-active: several servers serve the same subnets from one
// store (etcdstore, a store.CondCommitter). What changes from one server
// (DESIGN.md, "Full DHCP, active-active"):
//
//   - Each lease write is a compare-and-swap on its key, leases/<ip>: the
//     key must still be at the revision this server last saw it at (or
//     absent). The group commit stays: a batch goes in one transaction per
//     MaxTxnOps keys (CommitIf); when some keys lost, the writes that touch
//     them are dropped, the rest committed again, and the lost keys' current
//     records (etcd's Else branch, no second read) replace this server's.
//     A dropped REQUEST is NAKed (ErrConflict wraps ErrNotAvailable), unless
//     what is stored is that client's own lease on that address (another
//     server ACKed the same INIT-REBOOT or rebinding): then it is ACKed.
//   - Each server watches leases/ and takes the others' writes into its
//     memory (follow), so its allocator does not offer what another server
//     leased, and it can renew a client another server ACKed.
//   - A write is decided on memory; if memory turns out to have been wrong
//     (a conflict, a failed commit, another server's write applied), the
//     address's epoch moves on, and writes decided before, still queued,
//     are dropped as conflicts too: they could otherwise commit on top of
//     a revision they never saw.
//   - When the store fails (no quorum), a failed write's address goes back
//     to what is stored, as this server knows it; renewals of durable
//     leases are answered from memory with their time left (cached, and
//     the REQUEST's own failed write), and new leases are refused and
//     counted (Stats.Refused). The committer goes on trying: the first
//     commit that succeeds ends it, and the watch catches up by revision.
//
// Everything here is under Manager.mu, except commitShared's transactions.

// ErrConflict is wrapped (with ErrNotAvailable) by the error of a write that
// another server's write to the same lease got ahead of.
var ErrConflict = errors.New("the lease was written by another server meanwhile")

// writeError is a shared write's failure, with the address's record as
// stored after it (nil: none, or not known).
type writeError struct {
	err      error
	conflict bool
	cur      *Lease
}

func (e *writeError) Error() string { return e.err.Error() }

func (e *writeError) Unwrap() []error {
	if e.conflict {
		return []error{e.err, ErrConflict, ErrNotAvailable}
	}
	return []error{e.err}
}

// sharedState is the Manager's view of the store's lease keys.
type sharedState struct {
	cc store.CondCommitter
	// known is each address's record as stored, as far as this server
	// knows: the record (nil: absent), the key's ModRevision (mod, 0 when
	// absent: what a compare-and-swap names) and the highest revision
	// seen for it (a delete's included), below which watch events are old.
	known map[netip.Addr]knownRec
	// epoch moves on when the memory of an address is set from the store
	// (adopt); a queued write decided at another epoch is dropped.
	epoch map[netip.Addr]uint64
	// pending counts the writes queued or in commit per address; watch
	// events for an address with writes pending wait in deferred.
	pending  map[netip.Addr]int
	deferred map[netip.Addr]store.Event

	cancel context.CancelFunc
	done   chan struct{}
}

type knownRec struct {
	l         *Lease
	mod, seen int64
}

func newShared(cc store.CondCommitter) *sharedState {
	return &sharedState{cc: cc, known: map[netip.Addr]knownRec{}, epoch: map[netip.Addr]uint64{},
		pending: map[netip.Addr]int{}, deferred: map[netip.Addr]store.Event{}}
}

// queued notes the ops of a write being submitted: their epoch, and one
// more write pending on each address. m.mu is held.
func (sh *sharedState) queued(ops []op) {
	for i := range ops {
		ops[i].epoch = sh.epoch[ops[i].ip]
		sh.pending[ops[i].ip]++
	}
}

// spreadStart is where the walk of pool's never-used addresses starts for a
// server named spread: servers sharing a store start at different places,
// so that in a storm they seldom offer the same address.
func spreadStart(spread string, pool Range) uint32 {
	if spread == "" {
		return 0
	}
	h := sha256.Sum256([]byte(spread + " " + pool.String()))
	return binary.BigEndian.Uint32(h[:4]) % uint32(pool.Size())
}

// commitShared is the committer's commit on a shared store: writes in
// chunks of at most MaxTxnOps keys, each one CommitIf, keys written twice
// merged (etcd refuses a key twice in one transaction: the last write
// wins). It returns each write's error (nil: committed) and whether the
// store failed.
func (m *Manager) commitShared(batch []write) ([]error, bool) {
	sh := m.sh
	errs := make([]error, len(batch))
	bad := make([]bool, len(batch)) // dropped: a conflict, or decided at an old epoch
	rev := map[netip.Addr]int64{}   // what each key's compare names
	committed := map[netip.Addr]int64{}
	lost := map[netip.Addr]store.KV{}

	m.c.lockDraining(&m.mu)
	for i, w := range batch {
		for _, o := range w.ops {
			if _, ok := rev[o.ip]; !ok {
				rev[o.ip] = sh.known[o.ip].mod
			}
			if o.epoch != sh.epoch[o.ip] {
				bad[i] = true
			}
		}
	}
	m.mu.Unlock()

	maxOps := sh.cc.MaxTxnOps()
	var storeErr error
	for start := 0; start < len(batch); {
		// A chunk: writes in order while their keys fit in one transaction.
		end, keys := start, map[netip.Addr]bool{}
		for end < len(batch) {
			n := 0
			for _, o := range batch[end].ops {
				if !keys[o.ip] {
					n++
				}
			}
			if end > start && len(keys)+n > maxOps {
				break
			}
			for _, o := range batch[end].ops {
				keys[o.ip] = true
			}
			end++
		}
		if storeErr != nil {
			for i := start; i < end; i++ {
				errs[i] = storeErr
			}
			start = end
			continue
		}
		for {
			ops, order := m.chunkOps(batch[start:end], bad[start:end], rev)
			if len(ops) == 0 {
				break
			}
			r, conflicts, err := sh.cc.CommitIf(context.Background(), ops)
			if err != nil {
				storeErr = err
				for i := start; i < end; i++ {
					errs[i] = err
				}
				break
			}
			if len(conflicts) == 0 {
				for _, ip := range order {
					rev[ip] = r
					committed[ip] = r
				}
				break
			}
			for _, kv := range conflicts {
				ip, err := netip.ParseAddr(strings.TrimPrefix(kv.Key, KeyPrefix))
				if err != nil {
					continue
				}
				lost[ip] = kv
				for i := start; i < end; i++ {
					for _, o := range batch[i].ops {
						if o.ip == ip {
							bad[i] = true
						}
					}
				}
			}
		}
		start = end
	}
	if storeErr != nil {
		m.log.Error("lease store commit failed: new leases are refused until the store answers; renewals of stored leases are answered from memory",
			"err", storeErr)
	}
	m.resolve(batch, errs, bad, committed, lost)
	return errs, storeErr != nil
}

// chunkOps merges the ops of the writes not dropped into one op per key,
// the last write's value, each compare naming rev. order lists the keys.
func (m *Manager) chunkOps(ws []write, bad []bool, rev map[netip.Addr]int64) ([]store.CondOp, []netip.Addr) {
	idx := map[netip.Addr]int{}
	var ops []store.CondOp
	var order []netip.Addr
	for i, w := range ws {
		if bad[i] {
			continue
		}
		for _, o := range w.ops {
			if j, ok := idx[o.ip]; ok {
				ops[j].Value = o.value
				continue
			}
			idx[o.ip] = len(ops)
			ops = append(ops, store.CondOp{Key: o.key, Value: o.value, Rev: rev[o.ip]})
			order = append(order, o.ip)
		}
	}
	return ops, order
}

// resolve brings memory in line with a shared commit's outcome, and sets
// the error of each write dropped. m.mu is taken.
func (m *Manager) resolve(batch []write, errs []error, bad []bool, committed map[netip.Addr]int64, lost map[netip.Addr]store.KV) {
	sh := m.sh
	m.c.lockDraining(&m.mu)
	defer m.mu.Unlock()
	// Keys committed: the last write of each is what is stored now.
	for i, w := range batch {
		if bad[i] || errs[i] != nil {
			continue
		}
		for _, o := range w.ops {
			if r, ok := committed[o.ip]; ok {
				mod := r
				if o.rec == nil {
					mod = 0
				}
				sh.known[o.ip] = knownRec{l: o.rec, mod: mod, seen: max(sh.known[o.ip].seen, r)}
			}
		}
	}
	// Keys that lost: another server's record, as stored.
	for ip, kv := range lost {
		var l *Lease
		if kv.Value != nil {
			if d, err := decode(kv.Value); err == nil {
				l = &d
			}
		}
		m.adopt(ip, l, kv.Revision, kv.Revision)
	}
	// Every key of the batch: one write fewer pending. A key that was not
	// committed goes back to what is stored (a failed write, or the other
	// key of a dropped one); then what the watch held back is applied.
	touched := map[netip.Addr]bool{}
	for i, w := range batch {
		for _, o := range w.ops {
			sh.pending[o.ip]--
			if sh.pending[o.ip] <= 0 {
				delete(sh.pending, o.ip)
			}
			touched[o.ip] = true
		}
		if w.client {
			switch {
			case errs[i] != nil:
				m.refused.Add(1)
			case bad[i]:
				m.conflicts.Add(1)
			}
		}
	}
	for ip := range touched {
		k := sh.known[ip]
		if _, ok := lost[ip]; !ok && m.records[ip] != k.l {
			if _, ok := committed[ip]; !ok || sh.pending[ip] == 0 {
				m.adopt(ip, k.l, k.mod, k.seen)
			}
		}
		if sh.pending[ip] == 0 {
			if ev, ok := sh.deferred[ip]; ok {
				delete(sh.deferred, ip)
				if ev.Revision > sh.known[ip].seen {
					m.applyEvent(ip, ev)
				}
			}
		}
	}
	// The errors, with each write's address as now stored (its last op's).
	for i, w := range batch {
		if !bad[i] && errs[i] == nil {
			continue
		}
		var cur *Lease
		if n := len(w.ops); n > 0 {
			if l := sh.known[w.ops[n-1].ip].l; l != nil {
				c := *l
				cur = &c
			}
		}
		if errs[i] != nil {
			errs[i] = &writeError{err: fmt.Errorf("lease not stored: %w", errs[i]), cur: cur}
		} else {
			ip := netip.Addr{}
			if n := len(w.ops); n > 0 {
				ip = w.ops[n-1].ip
			}
			errs[i] = &writeError{err: fmt.Errorf("lease %v: %w", ip, ErrConflict), conflict: true, cur: cur}
		}
	}
}

// adopt sets ip's memory to l (nil: no record) as stored at revision mod
// (0: absent), seen at revision seen, and moves its epoch on. m.mu is held.
func (m *Manager) adopt(ip netip.Addr, l *Lease, mod, seen int64) {
	sh := m.sh
	now := m.now()
	s := m.subnetOf(ip)
	if old := m.records[ip]; old != nil && s != nil {
		m.forget(clientRef{s.Prefix, old.owner()}, ip)
	}
	k := sh.known[ip]
	k.l, k.mod, k.seen = l, mod, max(k.seen, seen)
	sh.known[ip] = k
	sh.epoch[ip]++
	if l == nil {
		delete(m.records, ip)
	} else {
		m.records[ip] = l
	}
	if s == nil {
		return
	}
	if l != nil && l.State != Declined {
		ref := clientRef{s.Prefix, l.owner()}
		if prev, ok := m.byClient[ref]; !ok || prev == ip || m.records[prev] == nil || !l.Start.Before(m.records[prev].Start) {
			m.byClient[ref] = ip
		}
	}
	if o := m.offers[ip]; o != nil && l != nil && l.Active(now) && o.owner() != l.owner() {
		m.dropOffer(s, ip) // the address went to another server's client
	}
	m.requeue(s, ip, now)
}

// applyEvent takes another server's write of ip into memory. m.mu is held.
func (m *Manager) applyEvent(ip netip.Addr, ev store.Event) {
	if ev.Type == store.EventDelete {
		m.adopt(ip, nil, 0, ev.Revision)
		m.remote.Add(1)
		return
	}
	l, err := decode(ev.Value)
	if err != nil {
		m.log.Warn("skipping a lease record that cannot be read", "key", ev.Key, "err", err)
		return
	}
	m.adopt(ip, &l, ev.Revision, ev.Revision)
	m.remote.Add(1)
}

// event is one watch event: applied unless already known (this server's
// own write, or older than what a read returned), or held while this
// server has a write of the address pending (resolve applies it after).
func (m *Manager) event(ev store.Event) {
	ip, err := netip.ParseAddr(strings.TrimPrefix(ev.Key, KeyPrefix))
	if err != nil || !ip.Is4() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	sh := m.sh
	if m.closed || ev.Revision <= sh.known[ip].seen {
		return
	}
	if sh.pending[ip] > 0 {
		if d, ok := sh.deferred[ip]; !ok || d.Revision < ev.Revision {
			sh.deferred[ip] = ev
		}
		return
	}
	m.applyEvent(ip, ev)
}

// follow applies the watch's events until ctx ends. etcdstore resumes a
// watch by itself across member failures and outages, from the revision
// after the last event delivered; a watch it cannot resume (compacted away)
// closes, and follow lists the leases again and watches anew.
func (m *Manager) follow(ctx context.Context, ch <-chan store.Event) {
	defer close(m.sh.done)
	wait := 100 * time.Millisecond
	for {
		for ev := range ch {
			m.event(ev)
		}
		if ctx.Err() != nil {
			return
		}
		m.log.Warn("lease watch ended: reading the leases again")
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
		ch = m.st.Watch(ctx, KeyPrefix)
		if err := m.resync(ctx); err != nil {
			m.log.Warn("lease resync failed", "err", err)
		}
	}
}

// resync reads every lease and applies what is newer than what is known,
// and forgets records that are gone (no write of them pending).
func (m *Manager) resync(ctx context.Context) error {
	kvs, err := m.st.List(ctx, KeyPrefix)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	present := map[netip.Addr]bool{}
	for _, kv := range kvs {
		ip, err := netip.ParseAddr(strings.TrimPrefix(kv.Key, KeyPrefix))
		if err != nil {
			continue
		}
		present[ip] = true
		if kv.Revision > m.sh.known[ip].seen && m.sh.pending[ip] == 0 {
			m.applyEvent(ip, store.Event{Type: store.EventPut, KV: kv})
		}
	}
	for ip, k := range m.sh.known {
		if k.l != nil && !present[ip] && m.sh.pending[ip] == 0 {
			m.adopt(ip, nil, 0, 0)
		}
	}
	return nil
}
