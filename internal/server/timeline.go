package server

import (
	"fmt"

	"rackboot/internal/config"
	"rackboot/internal/metrics"
	"rackboot/internal/store/etcdstore"
	"rackboot/internal/timeline"
)

// shareTimeline makes this server's boot timeline one with every server on
// its etcd store (internal/timeline): its own boot events are published to
// the store in batches, the others' are taken into its timeline, named by
// the sightings they carry. With the bolt store nothing is shared and
// nothing changes.
func (s *Server) shareTimeline(cfg config.Config) error {
	st, ok := s.store.(*etcdstore.Store)
	if !ok {
		return nil
	}
	sh, err := timeline.Start(timeline.Options{Store: st, Server: cfg.Server.NameOrHost(), Log: s.timeline.Events,
		Deliver: s.timeline.Remote, Logger: s.log.With("svc", "timeline")})
	if err != nil {
		return fmt.Errorf("shared timeline: %w", err)
	}
	s.sharedTimeline = sh
	s.timeline.Metrics.Timeline(func() metrics.TimelineFigures {
		f := sh.Stats()
		return metrics.TimelineFigures{Published: f.Published, Received: f.Received, Dropped: f.Dropped, Failures: f.Failures}
	})
	return nil
}

// closeTimeline stops sharing, after the timeline has closed and before
// the store does: the last batch is written (within a few seconds).
func (s *Server) closeTimeline() {
	if s.sharedTimeline != nil {
		s.sharedTimeline.Close()
	}
}
