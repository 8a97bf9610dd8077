package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rackboot/internal/api"
	"rackboot/internal/cluster"
	"rackboot/internal/config"
	"rackboot/internal/store/boltstore"
	"rackboot/internal/store/etcdstore"
	"rackboot/internal/store/etcdstore/etcdtest"
)

// etcdConfig is loopbackConfig on the etcd store at endpoints, under
// prefix, named name.
func etcdConfig(t *testing.T, endpoints []string, prefix, name string) config.Config {
	t.Helper()
	cfg := loopbackConfig(t)
	cfg.Store = config.Store{Backend: config.BackendEtcd, Etcd: config.StoreEtcd{Endpoints: endpoints, Prefix: prefix}}
	cfg.Server.Name = name
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestOpenStoreBackends: OpenStore opens bbolt by default and etcd when
// store.backend says so; what one etcd store writes, another reads.
func TestOpenStoreBackends(t *testing.T) {
	st, err := OpenStore(loopbackConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.(*boltstore.Store); !ok {
		t.Errorf("default backend opened %T, want *boltstore.Store", st)
	}
	st.Close()

	ec := etcdtest.Start(t, 1)
	cfg := etcdConfig(t, ec.Endpoints(), "/backend-switch/", "a")
	a, err := OpenStore(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	es, ok := a.(*etcdstore.Store)
	if !ok || es.Prefix() != "/backend-switch/" {
		t.Fatalf("etcd backend opened %T (prefix %v)", a, es)
	}
	b, err := OpenStore(etcdConfig(t, ec.Endpoints(), "/backend-switch/", "b"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	if _, err := a.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if kv, err := b.Get(ctx, "k"); err != nil || string(kv.Value) != "v" {
		t.Fatalf("the other store reads %q, %v", kv.Value, err)
	}

	bad := cfg
	bad.Store.Etcd.Endpoints = []string{"http://127.0.0.1:1"}
	bad.Store.Etcd.DialTimeout = config.Duration(time.Second)
	if st, err := OpenStore(bad, nil); err == nil {
		st.Close()
		t.Fatal("OpenStore on a dead endpoint did not fail")
	} else if st != nil {
		t.Fatalf("a failed OpenStore returned a non-nil store %T", st)
	}
}

// runServer starts New+Run (DHCP stubbed out) and stops it at cleanup.
func runServer(t *testing.T, cfg config.Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	s.dhcp = func(ctx context.Context) error { <-ctx.Done(); return nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		s.Close()
	})
	return s, "http://" + s.httpLn.Addr().String()
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tokenFile(t *testing.T, dataDir string) string {
	t.Helper()
	p := filepath.Join(dataDir, api.TokenFile)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

// TestClusterSharesState: two servers on one etcd get one API token (each
// in its own data directory's file, 0600), follow a rotation made on the
// other, list each other (GET /servers, /metrics), and share the machine
// registry: a boot-once set through B is consumed by the menu A serves,
// once, and B then serves none.
func TestClusterSharesState(t *testing.T) {
	ec := etcdtest.Start(t, 1)
	const prefix = "/share-state/"
	cfgA := etcdConfig(t, ec.Endpoints(), prefix, "a")
	cfgB := etcdConfig(t, ec.Endpoints(), prefix, "b")
	a, urlA := runServer(t, cfgA)
	b, urlB := runServer(t, cfgB)

	tokA, tokB := a.cl.tokens.Token(), b.cl.tokens.Token()
	if tokA == "" || tokA != tokB {
		t.Fatalf("tokens %q and %q, want one shared token", tokA, tokB)
	}
	if fa, fb := tokenFile(t, cfgA.DataDir), tokenFile(t, cfgB.DataDir); fa != tokA || fb != tokA {
		t.Errorf("token files hold %q and %q, want %q", fa, fb, tokA)
	}

	var snap cluster.Snapshot
	eventually(t, "B lists a and b alive", func() bool {
		snap = cluster.Snapshot{}
		json.Unmarshal([]byte(get(t, urlB+"/api/v1/servers")), &snap)
		return snap.AliveCount() == 2
	})
	for _, m := range snap.Members {
		if m.HTTPURL == "" || m.Version == "" || m.Advertise != "127.0.0.1" || m.Self != (m.Name == "b") {
			t.Errorf("member as B sees it: %+v", m)
		}
	}
	if m := get(t, urlA+"/metrics"); !strings.Contains(m, "rackboot_cluster_servers_alive 2") {
		t.Errorf("/metrics of A lacks rackboot_cluster_servers_alive 2")
	}

	// A rotation on A reaches B (memory and file).
	ctx := context.Background()
	newTok, err := (&api.Client{Base: urlA, Token: tokA}).RotateToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "B follows the rotation", func() bool { return b.cl.tokens.Token() == newTok })
	if f := tokenFile(t, cfgB.DataDir); f != newTok {
		t.Errorf("B's token file holds %q after the rotation, want %q", f, newTok)
	}

	// Boot-once set through B, consumed by A's menu, once.
	const mac = "52:54:00:aa:bb:01"
	cb := &api.Client{Base: urlB, Token: newTok}
	if err := cb.Do(ctx, http.MethodPost, "/machines/"+mac+"/boot-once", api.BootOnceRequest{Item: "shell"}, nil); err != nil {
		t.Fatal(err)
	}
	menu := func(base string) string { return get(t, base+"/boot.ipxe?mac="+mac+"&arch=bios") }
	first := menu(urlA)
	second := menu(urlB)
	const once = "choose --default shell "
	if !strings.Contains(first, once) || strings.Contains(second, once) {
		t.Errorf("boot-once shell: in A's menu %v, in B's next menu %v; want A's only\nA:\n%s\nB:\n%s",
			strings.Contains(first, once), strings.Contains(second, once), first, second)
	}
	var m struct {
		BootOnce string `json:"boot_once"`
	}
	json.Unmarshal([]byte(get(t, urlB+"/api/v1/machines/"+mac)), &m)
	if m.BootOnce != "" {
		t.Errorf("B's registry still has boot_once %q after A served it", m.BootOnce)
	}
}
