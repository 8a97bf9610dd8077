package smartos

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"rackboot/internal/cluster"
	"rackboot/internal/store"
	"rackboot/internal/store/etcdstore"
	"rackboot/internal/store/etcdstore/etcdtest"
)

// TestSyncWithClusterPeers wires the syncer as serve will: the peers are
// the cluster's alive members (their registered HTTP URLs), and a change of
// members triggers a pass.
func TestSyncWithClusterPeers(t *testing.T) {
	ec := etcdtest.Start(t, 1)
	const prefix = "/wired/"
	open := func() *etcdstore.Store {
		st, err := etcdstore.Open(context.Background(), etcdstore.Options{Endpoints: ec.Endpoints(), Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	c := &syncCluster{t: t, stores: func() store.Store { return open() }}
	a, b := c.add("a"), c.add("b")
	views := map[string]cluster.View{}
	for _, s := range []*syncServer{a, b} {
		cli, err := clientv3.New(clientv3.Config{Endpoints: ec.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.Close() })
		sy := s.sy
		m, err := cluster.Join(context.Background(), cli, prefix, cluster.Member{Name: s.name, HTTPURL: s.srv.URL},
			cluster.Options{TTL: 2 * time.Second, OnChange: func(cluster.Snapshot) { sy.Trigger() }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		views[s.name] = m
		view := m
		s.sy.peers = func(context.Context) ([]Peer, error) {
			var out []Peer
			for _, p := range view.Members().Peers() {
				out = append(out, Peer{Name: p.Name, URL: p.HTTPURL})
			}
			return out, nil
		}
	}
	a.importBuild(t, syncBuild, 1)
	a.run(t)
	b.run(t)
	syncWait(t, "b has the build", func() bool { return b.status(t, syncBuild).State == SyncPresent })
	if views["b"].Alive() != 2 {
		t.Fatalf("b sees %d servers alive", views["b"].Alive())
	}
}
