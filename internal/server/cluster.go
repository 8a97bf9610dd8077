package server

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"rackboot/internal/api"
	"rackboot/internal/cluster"
	"rackboot/internal/config"
	"rackboot/internal/progress"
	"rackboot/internal/smartos"
	"rackboot/internal/store/etcdstore"
	"rackboot/internal/version"
)

// clusterParts are what a server needs to share its store with others
// (store.backend: etcd): its membership, the syncer that makes its
// platforms follow the catalog, and the API token every server uses. With
// the bolt store: cluster.Single, no syncer, the token file alone.
type clusterParts struct {
	view   cluster.View
	syncer *smartos.Syncer // etcd only
	tokens *api.Tokens
}

// Cluster timings: a dead server's record goes after memberTTL; every
// alive member's /healthz is asked every healthInterval.
const (
	memberTTL      = 10 * time.Second
	healthInterval = 5 * time.Second
)

// loadTokens reads the API token, making one at first start: the data
// directory's file with bolt, the store's token with etcd (written to the
// file too, for the CLI on this host).
func (s *Server) loadTokens(cfg config.Config) (*api.Tokens, error) {
	var (
		tokens  *api.Tokens
		created bool
		err     error
	)
	if s.shared() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tokens, created, err = api.LoadSharedTokens(ctx, cfg.DataDir, s.store)
	} else {
		tokens, created, err = api.LoadTokens(cfg.DataDir)
	}
	if err != nil {
		return nil, err
	}
	if created {
		// Printed once, to the terminal that first started rackboot; it stays
		// in the data directory for the CLI on this host. Not when stdout is
		// a journal or a log file (the packaged service): a log is kept, and
		// read by more people than the token's file (0600) is.
		path := filepath.Join(cfg.DataDir, api.TokenFile)
		if progress.IsTerminal(os.Stdout) {
			fmt.Printf("rackboot: new API token (also in %s): %s\n", path, tokens.Token())
		} else {
			fmt.Printf("rackboot: new API token in %s (printed only to a terminal)\n", path)
		}
	}
	s.cl.tokens = tokens
	return tokens, nil
}

// shared says whether other servers may share this server's store.
func (s *Server) shared() bool {
	_, ok := s.store.(*etcdstore.Store)
	return ok
}

// joinCluster registers this server among those sharing its store (and
// follows them), and sets up the platform syncer, whose peers are the
// alive members and which runs again whenever they change.
func (s *Server) joinCluster(cfg config.Config, adv netip.Addr, im *smartos.Importer) error {
	self := cluster.Member{Name: cfg.Server.NameOrHost(), Advertise: adv.String(),
		HTTPURL: httpBase(adv, s.httpLn.Addr()), Version: version.Version}
	es, ok := s.store.(*etcdstore.Store)
	if !ok {
		s.cl.view = cluster.Single(self)
		s.timeline.Metrics.ClusterServers(s.cl.view.Alive)
		return nil
	}
	log := s.log.With("svc", "cluster")
	sy, err := smartos.NewSyncer(im, self.Name, s.syncPeers, smartos.SyncOptions{})
	if err != nil {
		return err
	}
	s.cl.syncer = sy
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := cluster.Join(ctx, es.Client(), es.Prefix(), self, cluster.Options{
		TTL: memberTTL, HealthInterval: healthInterval, Logger: log,
		OnChange: func(cluster.Snapshot) { sy.Trigger() },
	})
	if err != nil {
		return err
	}
	s.cl.view = m
	s.timeline.Metrics.ClusterServers(m.Alive)
	s.started = append(s.started, "server", self.Name, "store", "etcd", "servers_alive", m.Alive())
	return nil
}

// syncPeers are the alive members other than this server, in name order.
func (s *Server) syncPeers(context.Context) ([]smartos.Peer, error) {
	var out []smartos.Peer
	for _, p := range s.cl.view.Members().Peers() {
		if p.HTTPURL != "" {
			out = append(out, smartos.Peer{Name: p.Name, URL: p.HTTPURL})
		}
	}
	return out, nil
}

// members is GET /api/v1/servers.
func (s *Server) members() cluster.Snapshot {
	if s.cl.view == nil {
		return cluster.Snapshot{}
	}
	return s.cl.view.Members()
}

// runCluster runs, until ctx ends, what follows the other servers: the
// platform syncer and the shared API token. Nothing with the bolt store.
func (s *Server) runCluster(ctx context.Context) error {
	if s.cl.syncer == nil {
		return nil
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.cl.syncer.Run(ctx) })
	g.Go(func() error { return s.cl.tokens.Follow(ctx, s.log.With("svc", "api")) })
	return g.Wait()
}

// leaveCluster removes this server's record at once (its lease is
// revoked), before the store closes.
func (s *Server) leaveCluster() {
	if s.cl.view != nil {
		if err := s.cl.view.Close(); err != nil {
			s.log.Warn("leaving the cluster", "err", err)
		}
	}
}

// leaseShare is this server's rank among the servers alive, by name, and
// their number: which share of each pool its full DHCP walks first
// (lease.Config.Share). Before the cluster is joined, or when this server
// is not in the list, it is 0 of 1: the whole pool, as one server.
func (s *Server) leaseShare() (rank, count int) {
	if s.cl.view == nil {
		return 0, 1
	}
	alive := 0
	rank = -1
	for _, m := range s.cl.view.Members().Members { // sorted by name
		if !m.Alive {
			continue
		}
		if m.Self {
			rank = alive
		}
		alive++
	}
	if rank < 0 {
		return 0, 1
	}
	return rank, alive
}
