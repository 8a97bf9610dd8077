// Package storetest is the conformance suite every store.Store
// implementation must pass. An implementation's test calls Run:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... })
//	}
//
// open is called at least once per subtest. It must return a store that is
// empty the first time it is called with a given t, and, when called again
// with the same t after the previous store was closed, a store holding the
// same data (for bbolt: the same file; for etcd: the same cluster and key
// namespace). That second call is how durability across a reopen is tested.
// The suite closes the stores it opens; open may also register cleanups.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"rackboot/internal/store"
)

// Run runs every conformance test as a subtest of t.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, func(*testing.T) store.Store)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"ListOrderAndPrefix", testListOrderAndPrefix},
		{"Revisions", testRevisions},
		{"TxnCommit", testTxnCommit},
		{"TxnRollback", testTxnRollback},
		{"TxnConcurrentCounter", testTxnConcurrentCounter},
		{"WatchOrder", testWatchOrder},
		{"WatchCancel", testWatchCancel},
		{"WatchClose", testWatchClose},
		{"ContextCanceled", testContextCanceled},
		{"InvalidKey", testInvalidKey},
		{"Reopen", testReopen},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

// openEmpty opens a store, checks it starts empty and closes it at cleanup.
func openEmpty(t *testing.T, open func(*testing.T) store.Store) store.Store {
	t.Helper()
	s := open(t)
	t.Cleanup(func() { s.Close() })
	kvs, err := s.List(context.Background(), "")
	if err != nil {
		t.Fatalf("List on a new store: %v", err)
	}
	if len(kvs) != 0 {
		t.Fatalf("new store is not empty: %d keys, first %q (open must give each test its own namespace)", len(kvs), kvs[0].Key)
	}
	return s
}

func mustPut(t *testing.T, s store.Store, key, value string) int64 {
	t.Helper()
	rev, err := s.Put(context.Background(), key, []byte(value))
	if err != nil {
		t.Fatalf("Put %q: %v", key, err)
	}
	return rev
}

func keys(kvs []store.KV) []string {
	out := make([]string, len(kvs))
	for i, kv := range kvs {
		out[i] = kv.Key
	}
	return out
}

func testGetPutDelete(t *testing.T, open func(*testing.T) store.Store) {
	s := openEmpty(t, open)
	ctx := context.Background()
	if _, err := s.Get(ctx, "machines/aa"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a missing key: err = %v, want ErrNotFound", err)
	}
	rev := mustPut(t, s, "machines/aa", "one")
	kv, err := s.Get(ctx, "machines/aa")
	if err != nil {
		t.Fatal(err)
	}
	if kv.Key != "machines/aa" || string(kv.Value) != "one" || kv.Revision != rev {
		t.Fatalf("Get = %+v, want value one at revision %d", kv, rev)
	}
	mustPut(t, s, "machines/aa", "two")
	if kv, _ := s.Get(ctx, "machines/aa"); string(kv.Value) != "two" {
		t.Fatalf("after overwrite Get = %q, want two", kv.Value)
	}
	// A returned value is the caller's: changing it must not change the store.
	kv.Value[0] = 'X'
	if kv2, _ := s.Get(ctx, "machines/aa"); string(kv2.Value) != "two" {
		t.Fatalf("store value changed through a returned slice: %q", kv2.Value)
	}
	if err := s.Delete(ctx, "machines/aa"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "machines/aa"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "machines/aa"); err != nil {
		t.Fatalf("Delete of a missing key: %v, want nil", err)
	}
	mustPut(t, s, "empty", "")
	if kv, err := s.Get(ctx, "empty"); err != nil || len(kv.Value) != 0 {
		t.Fatalf("empty value: %+v, %v", kv, err)
	}
}

func testListOrderAndPrefix(t *testing.T, open func(*testing.T) store.Store) {
	s := openEmpty(t, open)
	ctx := context.Background()
	for _, k := range []string{"ab/1", "a/c", "a/a", "b", "a/b/deep", "a", "ab/0"} {
		mustPut(t, s, k, "v-"+k)
	}
	cases := []struct {
		prefix string
		want   []string
	}{
		{"a/", []string{"a/a", "a/b/deep", "a/c"}},
		{"ab/", []string{"ab/0", "ab/1"}},
		{"a", []string{"a", "a/a", "a/b/deep", "a/c", "ab/0", "ab/1"}},
		{"", []string{"a", "a/a", "a/b/deep", "a/c", "ab/0", "ab/1", "b"}},
		{"c/", nil},
	}
	for _, c := range cases {
		kvs, err := s.List(ctx, c.prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", c.prefix, err)
		}
		if got := keys(kvs); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("List(%q) = %q, want %q", c.prefix, got, c.want)
		}
		for _, kv := range kvs {
			if string(kv.Value) != "v-"+kv.Key || kv.Revision <= 0 {
				t.Errorf("List(%q): %q has value %q revision %d", c.prefix, kv.Key, kv.Value, kv.Revision)
			}
		}
	}
}

func testRevisions(t *testing.T, open func(*testing.T) store.Store) {
	s := openEmpty(t, open)
	ctx := context.Background()
	r1 := mustPut(t, s, "k/a", "1")
	r2 := mustPut(t, s, "k/a", "2")
	r3 := mustPut(t, s, "k/b", "1")
	if !(0 < r1 && r1 < r2 && r2 < r3) {
		t.Fatalf("revisions %d, %d, %d do not increase", r1, r2, r3)
	}
	if err := s.Delete(ctx, "k/b"); err != nil {
		t.Fatal(err)
	}
	r4 := mustPut(t, s, "k/c", "1")
	if r4 <= r3+1 {
		t.Fatalf("revision after a delete = %d, want > %d (a delete takes a revision)", r4, r3+1)
	}
	if kv, _ := s.Get(ctx, "k/a"); kv.Revision != r2 {
		t.Fatalf("k/a revision = %d, want %d (its last write)", kv.Revision, r2)
	}
	var txRevs []int64
	err := s.Txn(ctx, func(tx store.Tx) error {
		if err := tx.Put("k/x", []byte("1")); err != nil {
			return err
		}
		return tx.Put("k/y", []byte("1"))
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k/x", "k/y"} {
		kv, err := s.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		txRevs = append(txRevs, kv.Revision)
	}
	if txRevs[0] != txRevs[1] || txRevs[0] <= r4 {
		t.Fatalf("one txn's writes got revisions %v, want one revision > %d", txRevs, r4)
	}
}

func testTxnCommit(t *testing.T, open func(*testing.T) store.Store) {
	s := openEmpty(t, open)
	ctx := context.Background()
	mustPut(t, s, "c/old", "x")
	err := s.Txn(ctx, func(tx store.Tx) error {
		if _, err := tx.Get("c/new"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("tx.Get of a missing key: %v", err)
		}
		if err := tx.Put("c/new", []byte("y")); err != nil {
			return err
		}
		kv, err := tx.Get("c/new")
		if err != nil || string(kv.Value) != "y" {
			return fmt.Errorf("txn does not read its own write: %+v %v", kv, err)
		}
		if err := tx.Delete("c/old"); err != nil {
			return err
		}
		kvs, err := tx.List("c/")
		if err != nil || fmt.Sprint(keys(kvs)) != "[c/new]" {
			return fmt.Errorf("tx.List = %q, %v; want [c/new]", keys(kvs), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	kvs, _ := s.List(ctx, "c/")
	if fmt.Sprint(keys(kvs)) != "[c/new]" {
		t.Fatalf("after commit List = %q, want [c/new]", keys(kvs))
	}
}

func testTxnRollback(t *testing.T, open func(*testing.T) store.Store) {
	s := openEmpty(t, open)
	ctx := context.Background()
	rev := mustPut(t, s, "r/keep", "1")
	boom := errors.New("boom")
	err := s.Txn(ctx, func(tx store.Tx) error {
		if err := tx.Put("r/a", []byte("1")); err != nil {
			return err
		}
		if err := tx.Put("r/keep", []byte("2")); err != nil {
			return err
		}
		if err := tx.Delete("r/keep"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Txn error = %v, want the function's error", err)
	}
	kvs, _ := s.List(ctx, "r/")
	if len(kvs) != 1 || kvs[0].Key != "r/keep" || string(kvs[0].Value) != "1" || kvs[0].Revision != rev {
		t.Fatalf("after rollback: %+v, want only r/keep=1 at revision %d", kvs, rev)
	}
	if next := mustPut(t, s, "r/b", "1"); next != rev+1 {
		t.Fatalf("revision after a rolled-back txn = %d, want %d", next, rev+1)
	}
}

func testTxnConcurrentCounter(t *testing.T, open func(*testing.T) store.Store) {
	s := openEmpty(t, open)
	ctx := context.Background()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				err := s.Txn(ctx, func(tx store.Tx) error {
					n := 0
					kv, err := tx.Get("counter")
					switch {
					case errors.Is(err, store.ErrNotFound):
					case err != nil:
						return err
					default:
						fmt.Sscan(string(kv.Value), &n)
					}
					return tx.Put("counter", []byte(fmt.Sprint(n+1)))
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	kv, err := s.Get(ctx, "counter")
	if err != nil {
		t.Fatal(err)
	}
	if string(kv.Value) != fmt.Sprint(workers*each) {
		t.Fatalf("counter = %s, want %d (lost updates)", kv.Value, workers*each)
	}
}

func recv(t *testing.T, ch <-chan store.Event) store.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed early")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event within 5s")
	}
	return store.Event{}
}

func testWatchOrder(t *testing.T, open func(*testing.T) store.Store) {
	s := openEmpty(t, open)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mustPut(t, s, "w/before", "x") // before the watch: not reported
	ch := s.Watch(ctx, "w/")
	r1 := mustPut(t, s, "w/a", "1")
	mustPut(t, s, "wx/ignored", "1")
	mustPut(t, s, "other", "1")
	r2 := mustPut(t, s, "w/b", "2")
	if err := s.Delete(context.Background(), "w/a"); err != nil {
		t.Fatal(err)
	}
	err := s.Txn(context.Background(), func(tx store.Tx) error {
		if err := tx.Put("w/c", []byte("3")); err != nil {
			return err
		}
		return tx.Put("w/d", []byte("4"))
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		typ   store.EventType
		key   string
		value string
	}{
		{store.EventPut, "w/a", "1"}, {store.EventPut, "w/b", "2"}, {store.EventDelete, "w/a", ""},
		{store.EventPut, "w/c", "3"}, {store.EventPut, "w/d", "4"},
	}
	var last int64
	for i, w := range want {
		ev := recv(t, ch)
		if ev.Type != w.typ || ev.Key != w.key || string(ev.Value) != w.value {
			t.Fatalf("event %d = %v %q=%q, want %v %q=%q", i, ev.Type, ev.Key, ev.Value, w.typ, w.key, w.value)
		}
		if ev.Revision < last || ev.Revision <= 0 {
			t.Fatalf("event %d revision %d after %d", i, ev.Revision, last)
		}
		last = ev.Revision
		if i == 0 && ev.Revision != r1 || i == 1 && ev.Revision != r2 {
			t.Fatalf("event %d revision %d, want the Put's", i, ev.Revision)
		}
	}
	select {
	case ev := <-ch:
		t.Fatalf("unexpected extra event %v %q", ev.Type, ev.Key)
	case <-time.After(50 * time.Millisecond):
	}
}

// closedWithin waits for ch to be closed, draining events.
func closedWithin(t *testing.T, ch <-chan store.Event, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("watch channel still open %v after cancel", d)
		}
	}
}

func testWatchCancel(t *testing.T, open func(*testing.T) store.Store) {
	s := openEmpty(t, open)
	ctx, cancel := context.WithCancel(context.Background())
	ch := s.Watch(ctx, "")
	mustPut(t, s, "x", "1") // an undelivered event must not keep it open
	cancel()
	closedWithin(t, ch, 5*time.Second)
	// The store still works and other watchers are unaffected.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	ch2 := s.Watch(ctx2, "")
	mustPut(t, s, "y", "1")
	if ev := recv(t, ch2); ev.Key != "y" {
		t.Fatalf("second watcher got %q, want y", ev.Key)
	}
}

func testWatchClose(t *testing.T, open func(*testing.T) store.Store) {
	s := openEmpty(t, open)
	ch := s.Watch(context.Background(), "")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closedWithin(t, ch, 5*time.Second)
}

func testContextCanceled(t *testing.T, open func(*testing.T) store.Store) {
	s := openEmpty(t, open)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Put(ctx, "k", []byte("v")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a canceled ctx: %v", err)
	}
	if err := s.Txn(ctx, func(store.Tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Txn with a canceled ctx: %v", err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled ctx: %v", err)
	}
	if kvs, _ := s.List(context.Background(), ""); len(kvs) != 0 {
		t.Fatalf("a canceled Put wrote %q", keys(kvs))
	}
}

func testInvalidKey(t *testing.T, open func(*testing.T) store.Store) {
	s := openEmpty(t, open)
	ctx := context.Background()
	for _, k := range []string{"", "a\x00b", string([]byte{0xff, 0xfe})} {
		if _, err := s.Put(ctx, k, []byte("v")); err == nil {
			t.Errorf("Put(%q) succeeded, want an error", k)
		}
	}
}

func testReopen(t *testing.T, open func(*testing.T) store.Store) {
	s := openEmpty(t, open)
	ctx := context.Background()
	mustPut(t, s, "d/a", "1")
	last := mustPut(t, s, "d/b", "2")
	if err := s.Delete(ctx, "d/a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t)
	defer s2.Close()
	kvs, err := s2.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 1 || kvs[0].Key != "d/b" || !bytes.Equal(kvs[0].Value, []byte("2")) || kvs[0].Revision != last {
		t.Fatalf("after reopen: %+v, want only d/b=2 at revision %d", kvs, last)
	}
	if rev := mustPut(t, s2, "d/c", "3"); rev <= last+1 {
		t.Fatalf("revision after reopen = %d, want > %d: revisions must survive a restart", rev, last+1)
	}
}

func testClosed(t *testing.T, open func(*testing.T) store.Store) {
	s := openEmpty(t, open)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := context.Background()
	if _, err := s.Put(ctx, "k", nil); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Put after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	closedWithin(t, s.Watch(ctx, ""), time.Second)
}
