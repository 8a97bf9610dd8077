package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"rackboot/internal/store/etcdstore/etcdtest"
)

const testPrefix = "/rackboot/test/"

// client opens an etcd client of its own (one per server, as in real life).
func client(t *testing.T, c *etcdtest.Cluster) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

func join(t *testing.T, cli *clientv3.Client, name, url string, opt Options) *Membership {
	t.Helper()
	if opt.TTL == 0 {
		opt.TTL = 2 * time.Second
	}
	opt.Logger = testLogger(t).With("server", name)
	m, err := Join(context.Background(), cli, testPrefix, Member{Name: name, HTTPURL: url, Advertise: "127.0.0.1", Version: "test"}, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// waitFor polls cond for up to a minute (bounded, not a timing check).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func aliveNames(s Snapshot) string {
	out := ""
	for _, m := range s.Members {
		if m.Alive {
			out += m.Name + " "
		}
	}
	return out
}

func healthz(ok *atomic.Bool) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && ok.Load() {
			fmt.Fprintln(w, "ok")
			return
		}
		http.Error(w, "unhealthy", http.StatusServiceUnavailable)
	}))
}

// TestJoinListLeave: two servers see each other with their records and
// health; one that closes is gone from etcd at once (revoked) and shown as
// not alive by the other.
func TestJoinListLeave(t *testing.T) {
	c := etcdtest.Start(t, 1)
	var okA, okB atomic.Bool
	okA.Store(true)
	srvA, srvB := healthz(&okA), healthz(&okB)
	defer srvA.Close()
	defer srvB.Close()
	var changes atomic.Int64
	opt := Options{HealthInterval: 100 * time.Millisecond, OnChange: func(Snapshot) { changes.Add(1) }}
	a := join(t, client(t, c), "a", srvA.URL, opt)
	cliB := client(t, c)
	b := join(t, cliB, "b", srvB.URL+"/", opt)

	waitFor(t, "a and b alive in a's view", func() bool { return aliveNames(a.Members()) == "a b " })
	waitFor(t, "a and b alive in b's view", func() bool { return aliveNames(b.Members()) == "a b " })
	if a.Alive() != 2 {
		t.Fatalf("a.Alive() = %d, want 2", a.Alive())
	}
	s := a.Members()
	if s.Stale || !s.Members[0].Self || s.Members[1].Self {
		t.Fatalf("snapshot: %+v", s)
	}
	if got := s.Members[1]; got.HTTPURL != srvB.URL || got.Version != "test" || got.Advertise != "127.0.0.1" || got.Started.IsZero() {
		t.Fatalf("b's record as a sees it: %+v", got)
	}
	if peers := s.Peers(); len(peers) != 1 || peers[0].Name != "b" {
		t.Fatalf("Peers() = %+v", peers)
	}
	waitFor(t, "health: a ok, b failing", func() bool {
		ms := a.Members().Members
		return ms[0].Health != nil && ms[0].Health.OK && ms[1].Health != nil && !ms[1].Health.OK && ms[1].Health.Error != ""
	})
	if changes.Load() == 0 {
		t.Fatal("OnChange never called")
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := cliB.Get(context.Background(), testPrefix+KeyPrefix+"b")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 0 {
		t.Fatal("b's record is still in etcd after Close: the lease was not revoked")
	}
	waitFor(t, "b not alive in a's view", func() bool { return aliveNames(a.Members()) == "a " })
	s = a.Members()
	if len(s.Members) != 2 || s.Members[1].Alive || s.Members[1].LastSeen.IsZero() {
		t.Fatalf("a departed member should stay listed, not alive: %+v", s.Members)
	}
}

// TestKilledServerExpires: a server whose process dies (its etcd client
// goes without revoking anything) disappears when its lease's TTL runs out.
func TestKilledServerExpires(t *testing.T) {
	c := etcdtest.Start(t, 1)
	a := join(t, client(t, c), "a", "", Options{})
	cliB := client(t, c)
	b := join(t, cliB, "b", "", Options{})
	waitFor(t, "a sees b", func() bool { return aliveNames(a.Members()) == "a b " })
	b.mu.Lock()
	lease := b.lease
	b.mu.Unlock()
	cliB.Close() // the process is gone: no more keepalives, no revoke
	waitFor(t, "a sees b gone", func() bool { return aliveNames(a.Members()) == "a " })
	ttl, err := a.cli.TimeToLive(context.Background(), lease)
	if err != nil {
		t.Fatal(err)
	}
	if ttl.TTL > 0 {
		t.Fatalf("b's lease still has %ds to live, but b is listed as gone", ttl.TTL)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close after the client died: %v", err)
	}
}

// TestEtcdRestart: while etcd is down the list is the last known one,
// marked stale; when etcd is back after longer than the TTL, every server
// registers again under a new lease and the list is fresh.
func TestEtcdRestart(t *testing.T) {
	c := etcdtest.Start(t, 1)
	a := join(t, client(t, c), "a", "", Options{RequestTimeout: time.Second})
	b := join(t, client(t, c), "b", "", Options{RequestTimeout: time.Second})
	waitFor(t, "a sees b", func() bool { return aliveNames(a.Members()) == "a b " })
	a.mu.Lock()
	oldLease := a.lease
	a.mu.Unlock()

	c.Kill(0)
	waitFor(t, "a's view stale", func() bool { return a.Members().Stale })
	s := a.Members()
	if aliveNames(s) != "a b " || s.Error == "" || a.Alive() != 2 {
		t.Fatalf("stale view should keep the last known list: %+v", s)
	}
	// Longer than the TTL, so that the client gives the lease up.
	time.Sleep(3 * a.opt.TTL)
	c.Restart(0)

	waitFor(t, "a's view fresh again with a and b", func() bool {
		s := a.Members()
		return !s.Stale && aliveNames(s) == "a b "
	})
	waitFor(t, "a registered under a new lease", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.lease != oldLease
	})
	for _, m := range []*Membership{a, b} {
		waitFor(t, m.self.Name+"'s record on a live lease", func() bool {
			resp, err := a.cli.Get(context.Background(), m.key())
			if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease == 0 {
				return false
			}
			ttl, err := a.cli.TimeToLive(context.Background(), clientv3.LeaseID(resp.Kvs[0].Lease))
			return err == nil && ttl.TTL > 0
		})
	}
	// The new leases are kept alive: still there after several TTLs.
	time.Sleep(3 * a.opt.TTL)
	if s := b.Members(); s.Stale || aliveNames(s) != "a b " {
		t.Fatalf("after the restart: %+v", s)
	}
}

// TestRecordDeletedIsWrittenAgain: an operator's etcdctl del of a live
// server's record does not make it vanish.
func TestRecordDeletedIsWrittenAgain(t *testing.T) {
	c := etcdtest.Start(t, 1)
	cli := client(t, c)
	a := join(t, cli, "a", "", Options{})
	if _, err := cli.Delete(context.Background(), a.key()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a's record back", func() bool {
		resp, err := cli.Get(context.Background(), a.key())
		return err == nil && len(resp.Kvs) == 1
	})
	waitFor(t, "a alive in its own view", func() bool { return aliveNames(a.Members()) == "a " })
}

func TestSingle(t *testing.T) {
	v := Single(Member{Name: "solo", HTTPURL: "http://127.0.0.1:8080"})
	s := v.Members()
	if v.Alive() != 1 || len(s.Members) != 1 || !s.Members[0].Self || !s.Members[0].Alive || s.Stale || len(s.Peers()) != 0 {
		t.Fatalf("Single: %+v", s)
	}
	if v.Self().Started.IsZero() || v.Close() != nil {
		t.Fatal("Single: Started not set, or Close failed")
	}
}

func TestValidName(t *testing.T) {
	for name, ok := range map[string]bool{"rb1": true, "rb-1.example.org": true, "": false, "a/b": false, " a": false, "..": false} {
		if err := ValidName(name); (err == nil) != ok {
			t.Errorf("ValidName(%q) = %v", name, err)
		}
	}
}
