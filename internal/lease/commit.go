package lease

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"rackboot/internal/store"
)

// op is one key written or deleted.
type op struct {
	key   string
	value []byte // nil deletes
	// For a shared store (shared.go): the address, the record written
	// (nil for a delete) and the address's epoch when the write was
	// decided.
	ip    netip.Addr
	rec   *Lease
	epoch uint64
}

// write is one caller's set of ops, committed atomically with others.
type write struct {
	ops []op
	seq uint64 // Manager.submit's number, in queue order
	// recs are the records it stores: marked not durable when the
	// commit fails (markFailed).
	recs []*Lease
	// client: a client waits for it (a REQUEST, RELEASE or DECLINE), as
	// opposed to Reclaim's deletes; only those count as conflicts.
	client bool
	// done, when not nil, is called with the commit's result once the
	// batch is committed, on the committer goroutine, in queue order. It
	// must be quick (the next commit waits for it) and must not wait for
	// another write.
	done func(error)
}

// committer is the group commit: one goroutine takes every write waiting in
// queue, runs them all in one store transaction (one fsync for bbolt), and
// then tells each writer. While that transaction runs, new writes queue up
// and go together in the next one, so the number of fsyncs per second stays
// what the disk can do while the number of leases per second grows with the
// load. Nothing waits on a timer: a lone write commits at once.
//
// After each commit the same goroutine calls the writers' done funcs (the
// DHCP server builds and sends its ACKs there): on a busy host, handing
// them to another goroutine costs more in waiting for a CPU than it saves.
type committer struct {
	st       store.Store
	queue    chan write
	maxBatch int
	stopped  chan struct{}
	// overflow holds writes taken from queue while waiting for the
	// Manager's lock (lockDraining); the next batch takes them first.
	overflow []write

	onErr func(error)
	// shared, when set (a store other servers write too, shared.go),
	// commits a batch with a compare-and-swap per key and says, per
	// write, whether it committed; failed says the store itself failed.
	shared func(batch []write) (errs []error, failed bool)
	// markFailed, after a plain commit failed, marks the batch's records
	// not durable (under the Manager's lock), so that they are written
	// again rather than answered from memory.
	markFailed func(batch []write)
	// durable is the number of the last write resolved: every write up
	// to it is committed, or failed and its records marked not durable
	// (markFailed; a shared store rolls them back to what is stored). A
	// record is durable when its number is at most durable. Until
	// 2026-12 a failed commit stopped durable for good, and no renewal
	// was answered from memory again until a restart.
	durable atomic.Uint64
	// downAt is when the last commit failed in the store (Unix ns; 0: the
	// last one succeeded): renewals of durable leases are answered from
	// memory for a while after (cached).
	downAt atomic.Int64

	commits    atomic.Uint64 // transactions committed (or failed)
	writes     atomic.Uint64 // writes they carried
	commitTime atomic.Int64  // nanoseconds spent in them
	maxCommit  atomic.Int64  // the longest, in nanoseconds
	biggest    atomic.Int64  // the most writes in one
}

func newCommitter(st store.Store, maxBatch int, onErr func(error)) *committer {
	if maxBatch <= 0 {
		maxBatch = 4096
	}
	return &committer{
		st:       st,
		queue:    make(chan write, maxBatch),
		maxBatch: maxBatch,
		stopped:  make(chan struct{}),
		onErr:    onErr,
	}
}

// submit queues w. It blocks only when a whole batch is already waiting.
func (c *committer) submit(w write) { c.queue <- w }

// run commits batches until queue is closed and drained, telling each
// batch's writers after its commit.
func (c *committer) run() {
	defer close(c.stopped)
	batch := make([]write, 0, 64)
	for {
		var w write
		if len(c.overflow) > 0 {
			w = c.overflow[0]
			c.overflow = c.overflow[1:]
		} else {
			var ok bool
			if w, ok = <-c.queue; !ok {
				return
			}
		}
		batch = append(batch[:0], w)
		for len(c.overflow) > 0 && len(batch) < c.maxBatch {
			batch = append(batch, c.overflow[0])
			c.overflow = c.overflow[1:]
		}
	drain:
		for len(batch) < c.maxBatch {
			select {
			case w, ok := <-c.queue:
				if !ok {
					break drain
				}
				batch = append(batch, w)
			default:
				break drain
			}
		}
		var errs []error
		var err error
		failed := false
		if c.shared != nil {
			start := time.Now()
			errs, failed = c.shared(batch)
			c.count(start, len(batch))
		} else if err = c.commit(batch); err != nil {
			failed = true
			c.markFailed(batch)
		}
		if failed {
			c.downAt.Store(time.Now().UnixNano())
		} else {
			c.downAt.Store(0)
		}
		// Before the done funcs: a client ACKed there may renew at once.
		c.durable.Store(batch[len(batch)-1].seq)
		for i, w := range batch {
			if w.done != nil {
				if errs != nil {
					err = errs[i]
				}
				w.done(err)
			}
			batch[i] = write{} // let the ops go
		}
	}
}

func (c *committer) commit(batch []write) error {
	start := time.Now()
	// The context is not the callers': a batch holds many callers' writes,
	// and one caller going away must not cancel the others'.
	err := c.st.Txn(context.Background(), func(tx store.Tx) error {
		for _, w := range batch {
			for _, o := range w.ops {
				var err error
				if o.value == nil {
					err = tx.Delete(o.key)
				} else {
					err = tx.Put(o.key, o.value)
				}
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	c.count(start, len(batch))
	if err != nil && c.onErr != nil {
		c.onErr(err)
	}
	return err
}

// count adds one commit of n writes that began at start to the counters.
func (c *committer) count(start time.Time, n int) {
	d := int64(time.Since(start))
	c.commitTime.Add(d)
	for cur := c.maxCommit.Load(); d > cur && !c.maxCommit.CompareAndSwap(cur, d); cur = c.maxCommit.Load() {
	}
	for cur := c.biggest.Load(); int64(n) > cur && !c.biggest.CompareAndSwap(cur, int64(n)); cur = c.biggest.Load() {
	}
	c.commits.Add(1)
	c.writes.Add(uint64(n))
}

// downFor is how long after a failed commit renewals are answered from
// memory without trying the store; then one batch tries it again.
const downFor = 10 * time.Second

// storeDown reports whether a commit failed in the store within downFor.
func (c *committer) storeDown() bool {
	at := c.downAt.Load()
	return at != 0 && time.Since(time.Unix(0, at)) < downFor
}

// lockDraining locks mu, the Manager's lock, from the committer goroutine.
// A writer holding mu may be blocked on a full queue (submit runs under
// mu), so while mu is taken the queue is emptied into overflow, in order.
func (c *committer) lockDraining(mu *sync.Mutex) {
	for !mu.TryLock() {
		select {
		case w, ok := <-c.queue:
			if ok {
				c.overflow = append(c.overflow, w)
				continue
			}
		default:
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// close stops taking writes and waits until every queued one is committed
// and its writer told.
func (c *committer) close() {
	close(c.queue)
	<-c.stopped
}

// waiter is a done func for a caller that blocks, and the channel it waits on.
func waiter() (func(error), chan error) {
	ch := make(chan error, 1)
	return func(err error) { ch <- err }, ch
}
