package lease

import (
	"context"
	"sync/atomic"
	"time"

	"rackboot/internal/store"
)

// op is one key written or deleted.
type op struct {
	key   string
	value []byte // nil deletes
}

// write is one caller's set of ops, committed atomically with others.
type write struct {
	ops []op
	seq uint64 // Manager.submit's number, in queue order
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

	onErr func(error)
	// durable is the number of the last write known durable: every write
	// up to it committed. After a failed commit it stops for good (the
	// failed writes' records are in memory but not on disk), and every
	// renewal is written again instead of answered from memory.
	durable atomic.Uint64
	broken  bool // a commit failed; the committer goroutine's own

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
	for w := range c.queue {
		batch = append(batch[:0], w)
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
		err := c.commit(batch)
		if err != nil {
			c.broken = true
		} else if !c.broken {
			// Before the done funcs: a client ACKed there may renew at once.
			c.durable.Store(batch[len(batch)-1].seq)
		}
		for i, w := range batch {
			if w.done != nil {
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
	d := int64(time.Since(start))
	c.commitTime.Add(d)
	for cur := c.maxCommit.Load(); d > cur && !c.maxCommit.CompareAndSwap(cur, d); cur = c.maxCommit.Load() {
	}
	for cur := c.biggest.Load(); int64(len(batch)) > cur && !c.biggest.CompareAndSwap(cur, int64(len(batch))); cur = c.biggest.Load() {
	}
	c.commits.Add(1)
	c.writes.Add(uint64(len(batch)))
	if err != nil && c.onErr != nil {
		c.onErr(err)
	}
	return err
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
