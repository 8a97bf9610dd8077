package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"rackboot/internal/store"
	"rackboot/internal/store/etcdstore/etcdtest"
	"rackboot/internal/store/storetest"
)

// testLogger logs to the test's output when -v is set, else discards.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test", t.Name())
}

func open(t testing.TB, endpoints []string, prefix string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Endpoints: endpoints, Prefix: prefix, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs storetest against one real etcd member, each subtest
// under its own prefix; a reopen in the same subtest gets the same prefix.
func TestConformance(t *testing.T) {
	c := etcdtest.Start(t, 1)
	var mu sync.Mutex
	prefixes := map[*testing.T]string{}
	storetest.Run(t, func(t *testing.T) store.Store {
		mu.Lock()
		p, ok := prefixes[t]
		if !ok {
			p = fmt.Sprintf("/storetest/%d/", len(prefixes))
			prefixes[t] = p
		}
		mu.Unlock()
		s, err := Open(context.Background(), Options{Endpoints: c.Endpoints(), Prefix: p, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestPrefixIsolation: two sites on one cluster see only their own keys, in
// reads, lists, transactions and watches.
func TestPrefixIsolation(t *testing.T) {
	c := etcdtest.Start(t, 1)
	a := open(t, c.Endpoints(), "/rackboot/site-a/")
	b := open(t, c.Endpoints(), "/rackboot/site-ab/") // shares a's prefix as a string, not as a path
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wa, wb := a.Watch(ctx, ""), b.Watch(ctx, "")
	if _, err := a.Put(ctx, "machines/aa", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "machines/aa", []byte("b")); err != nil {
		t.Fatal(err)
	}
	if err := b.Txn(ctx, func(tx store.Tx) error { return tx.Put("machines/bb", []byte("b")) }); err != nil {
		t.Fatal(err)
	}
	if kv, err := a.Get(ctx, "machines/aa"); err != nil || string(kv.Value) != "a" {
		t.Fatalf("a Get = %q, %v; want a", kv.Value, err)
	}
	if _, err := a.Get(ctx, "machines/bb"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a sees b's key: %v", err)
	}
	for _, s := range []struct {
		st   *Store
		want string
	}{{a, "[machines/aa]"}, {b, "[machines/aa machines/bb]"}} {
		kvs, err := s.st.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, kv := range kvs {
			keys = append(keys, kv.Key)
		}
		if fmt.Sprint(keys) != s.want {
			t.Errorf("%s List = %v, want %s", s.st.Prefix(), keys, s.want)
		}
	}
	// Each watch sees its own site's events only, keys without the prefix.
	if ev := recv(t, wa); ev.Key != "machines/aa" || string(ev.Value) != "a" {
		t.Fatalf("a's watch: %+v", ev)
	}
	if ev := recv(t, wb); ev.Key != "machines/aa" || string(ev.Value) != "b" {
		t.Fatalf("b's watch: %+v", ev)
	}
	if ev := recv(t, wb); ev.Key != "machines/bb" {
		t.Fatalf("b's watch: %+v", ev)
	}
	if _, err := a.Put(ctx, "x", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if ev := recv(t, wa); ev.Key != "x" {
		t.Fatalf("a's watch got %q after b's events, want x (b's events leaked)", ev.Key)
	}
	// Deleting everything in a leaves b alone.
	if err := a.Delete(ctx, "machines/aa"); err != nil {
		t.Fatal(err)
	}
	if kv, err := b.Get(ctx, "machines/aa"); err != nil || string(kv.Value) != "b" {
		t.Fatalf("b's key after a's delete: %q, %v", kv.Value, err)
	}
}

func recv(t *testing.T, ch <-chan store.Event) store.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no watch event within 30s")
	}
	return store.Event{}
}

// TestTxnLimit: a Txn over MaxTxnOps is refused whole, nothing written; one
// at the limit commits.
func TestTxnLimit(t *testing.T) {
	c := etcdtest.Start(t, 1)
	s := open(t, c.Endpoints(), "/limit/")
	ctx := context.Background()
	if s.MaxTxnOps() != DefaultMaxTxnOps {
		t.Fatalf("MaxTxnOps = %d, want %d", s.MaxTxnOps(), DefaultMaxTxnOps)
	}
	write := func(n int) error {
		return s.Txn(ctx, func(tx store.Tx) error {
			for i := range n {
				if err := tx.Put(fmt.Sprintf("leases/%d-%d", n, i), []byte("x")); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := write(DefaultMaxTxnOps + 1)
	if !errors.Is(err, ErrTxnTooLarge) || !strings.Contains(err.Error(), "batches of at most 128") {
		t.Fatalf("Txn of 129 writes: %v, want ErrTxnTooLarge saying the batch size", err)
	}
	if kvs, _ := s.List(ctx, ""); len(kvs) != 0 {
		t.Fatalf("a refused Txn wrote %d keys", len(kvs))
	}
	if err := write(DefaultMaxTxnOps); err != nil {
		t.Fatalf("Txn of 128 writes: %v", err)
	}
	if kvs, _ := s.List(ctx, ""); len(kvs) != DefaultMaxTxnOps {
		t.Fatalf("after a Txn of 128 writes: %d keys", len(kvs))
	}
}

// TestTxnListConflict: a Txn that listed a prefix runs again when a key is
// added or removed under it before its commit.
func TestTxnListConflict(t *testing.T) {
	c := etcdtest.Start(t, 1)
	s := open(t, c.Endpoints(), "/conflict/")
	ctx := context.Background()
	for _, k := range []string{"m/a", "m/b"} {
		if _, err := s.Put(ctx, k, []byte("1")); err != nil {
			t.Fatal(err)
		}
	}
	for _, interfere := range []func() error{
		func() error { _, err := s.Put(ctx, "m/c", []byte("1")); return err },
		func() error { return s.Delete(ctx, "m/a") },
	} {
		runs := 0
		var counted int
		err := s.Txn(ctx, func(tx store.Tx) error {
			runs++
			kvs, err := tx.List("m/")
			if err != nil {
				return err
			}
			counted = len(kvs)
			if runs == 1 {
				if err := interfere(); err != nil {
					return err
				}
			}
			return tx.Put("count", []byte(fmt.Sprint(counted)))
		})
		if err != nil {
			t.Fatal(err)
		}
		kvs, _ := s.List(ctx, "m/")
		if runs != 2 || counted != len(kvs) {
			t.Fatalf("Txn ran %d times and counted %d keys, %d are there: want 2 runs and the count right", runs, counted, len(kvs))
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Open(ctx, Options{}); err == nil || !strings.Contains(err.Error(), "store.etcd.endpoints") {
		t.Errorf("Open without endpoints: %v", err)
	}
	if _, err := Open(ctx, Options{Endpoints: []string{"http://127.0.0.1:1"}, Prefix: "/rackboot"}); err == nil || !strings.Contains(err.Error(), "must end with /") {
		t.Errorf("Open with a prefix without a trailing /: %v", err)
	}
	// Nothing listens on port 1: Open says etcd is unreachable, within its dial timeout.
	_, err := Open(ctx, Options{Endpoints: []string{"http://127.0.0.1:1"}, DialTimeout: time.Second})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "http://127.0.0.1:1") || !strings.Contains(err.Error(), "store.etcd.endpoints") {
		t.Errorf("Open of an unreachable etcd: %v; want ErrUnavailable naming the endpoint and store.etcd.endpoints", err)
	}
}
