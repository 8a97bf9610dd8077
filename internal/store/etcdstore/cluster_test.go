package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"rackboot/internal/store"
	"rackboot/internal/store/etcdstore/etcdtest"
)

// openCluster opens a store on every member of c, with the default timeouts.
func openCluster(t *testing.T, c *etcdtest.Cluster, prefix string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Endpoints: c.Endpoints(), Prefix: prefix, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitWritable waits until a write goes through (after a quorum came back).
func waitWritable(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := s.Put(context.Background(), "probe", []byte("1"))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write went through within 60s of the members' return: %v", err)
		}
	}
}

// TestClusterMemberLoss: with one member of three killed (the leader) reads
// and writes go on; with two killed, writes and reads fail with
// ErrUnavailable within the request timeout and are counted; with the members
// back, the store works again and holds every write made before.
func TestClusterMemberLoss(t *testing.T) {
	c := etcdtest.Start(t, 3)
	s := openCluster(t, c, "/cluster/")
	ctx := context.Background()
	if _, err := s.Put(ctx, "before", []byte("1")); err != nil {
		t.Fatal(err)
	}
	leader := c.Leader(ctx)
	if leader < 0 {
		t.Fatal("no member says it is the leader")
	}
	c.Kill(leader)
	t.Logf("killed the leader, member %d", leader)
	for i := range 20 {
		key := fmt.Sprintf("one-down/%02d", i)
		if _, err := s.Put(ctx, key, []byte("v")); err != nil {
			t.Fatalf("Put %d with one member of three down: %v", i, err)
		}
		if _, err := s.Get(ctx, key); err != nil {
			t.Fatalf("Get %d with one member of three down: %v", i, err)
		}
	}
	if err := s.Txn(ctx, func(tx store.Tx) error {
		kv, err := tx.Get("before")
		if err != nil {
			return err
		}
		return tx.Put("one-down/txn", kv.Value)
	}); err != nil {
		t.Fatalf("Txn with one member of three down: %v", err)
	}
	if st := s.Stats(); st.UnavailableReads+st.UnavailableWrites != 0 {
		t.Fatalf("errors counted with a quorum up: %+v", st)
	}

	second := (leader + 1) % 3
	c.Kill(second)
	t.Logf("killed member %d too: no quorum", second)
	before := s.Stats()
	const writes = 3
	for i := range writes {
		// The first within the store's request timeout, the others within
		// a shorter deadline of the caller's.
		wctx, cancel := ctx, context.CancelFunc(func() {})
		if i > 0 {
			wctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		}
		_, err := s.Put(wctx, fmt.Sprintf("no-quorum/%d", i), []byte("v"))
		cancel()
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Put without quorum: %v, want ErrUnavailable", err)
		}
		for _, want := range []string{"no quorum", "store.etcd.endpoints", c.Members[0].ClientURL} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	}
	// The caller's own deadline bounds a request too, and is still seen as such.
	dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err := s.Txn(dctx, func(tx store.Tx) error { return tx.Put("no-quorum/txn", []byte("v")) })
	cancel()
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Txn without quorum, caller's deadline: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = s.Get(gctx, "before")
	cancel()
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get without quorum: %v, want ErrUnavailable (reads are linearizable)", err)
	}
	after := s.Stats()
	if w, r := after.UnavailableWrites-before.UnavailableWrites, after.UnavailableReads-before.UnavailableReads; w != writes+1 || r != 1 {
		t.Fatalf("counted %d unavailable writes and %d reads, want %d and 1", w, r, writes+1)
	}

	c.Resume(leader)
	c.Resume(second)
	for i := range c.Members {
		c.WaitHealthy(i)
	}
	waitWritable(t, s)
	for _, k := range []string{"before", "one-down/00", "one-down/19", "one-down/txn"} {
		if _, err := s.Get(ctx, k); err != nil {
			t.Fatalf("Get %s after the members came back: %v", k, err)
		}
	}
	// Every member holds the same data: a store on each one alone agrees.
	var lists []string
	for i, m := range c.Members {
		one, err := Open(ctx, Options{Endpoints: []string{m.ClientURL}, Prefix: "/cluster/", Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		kvs, err := one.List(ctx, "")
		one.Close()
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		lists = append(lists, fmt.Sprint(kvs))
	}
	if lists[0] != lists[1] || lists[1] != lists[2] {
		t.Fatalf("members disagree after the return:\n%s\n%s\n%s", lists[0], lists[1], lists[2])
	}
}

// TestClusterWatchResumes: a watch keeps going while each member in turn is
// killed and restarted, and through a loss of quorum, and delivers every
// write exactly once, in order.
func TestClusterWatchResumes(t *testing.T) {
	c := etcdtest.Start(t, 3)
	s := openCluster(t, c, "/watch/")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := s.Watch(ctx, "w/")
	var want []string
	n := 0
	write := func(count int) {
		t.Helper()
		for range count {
			key := fmt.Sprintf("w/%03d", n)
			n++
			if _, err := s.Put(ctx, key, []byte(key)); err != nil {
				t.Fatalf("Put %s: %v", key, err)
			}
			want = append(want, key)
		}
	}
	write(3)
	for m := range c.Members {
		c.Kill(m)
		write(3)
		c.Restart(m)
		write(3)
	}
	// No quorum for a while, then back: the watch resumes where it was.
	c.Kill(0)
	c.Kill(1)
	// A write fails meanwhile, long enough for the last member to end the
	// watch for want of a leader (WithRequireLeader). Its key is not watched:
	// a write refused without quorum may still be applied later.
	if _, err := s.Put(ctx, "probe", []byte("x")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put without quorum: %v, want ErrUnavailable", err)
	}
	c.Resume(0)
	c.Resume(1)
	for i := range c.Members {
		c.WaitHealthy(i)
	}
	waitWritable(t, s) // "probe" is outside w/: not watched
	write(3)

	var got []string
	var last int64
	for len(got) < len(want) {
		ev := recv(t, ch)
		if ev.Type != store.EventPut || string(ev.Value) != ev.Key || ev.Revision <= last {
			t.Fatalf("event %d: %v %q=%q at revision %d after %d", len(got), ev.Type, ev.Key, ev.Value, ev.Revision, last)
		}
		last = ev.Revision
		got = append(got, ev.Key)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("watch delivered\n%v\nwant\n%v", got, want)
	}
	select {
	case ev := <-ch:
		t.Fatalf("extra event %v %q at revision %d (doubled)", ev.Type, ev.Key, ev.Revision)
	case <-time.After(200 * time.Millisecond):
	}
	t.Logf("stats: %+v", s.Stats())
}
