package etcdstore

import (
	"context"
	"errors"
	"testing"

	"rackboot/internal/store/etcdstore/etcdtest"
)

// TestFailFastWhileDown: once a request found etcd unavailable, the next
// ones get one short try (so a menu read falls back at once, not after the
// whole request timeout each); the first answer after etcd returns gives
// requests their full timeout again.
func TestFailFastWhileDown(t *testing.T) {
	c := etcdtest.Start(t, 1)
	s := openCluster(t, c, "/failfast/")
	if req, _ := s.timeouts(); req != s.timeout {
		t.Fatalf("before any failure: request timeout %v, want the configured %v", req, s.timeout)
	}
	c.Kill(0)
	if _, err := s.Get(context.Background(), "k"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Get with etcd down: %v, want ErrUnavailable", err)
	}
	if req, att := s.timeouts(); req != downTimeout || att != downTimeout {
		t.Fatalf("after a failure: timeouts %v/%v, want one try of %v", req, att, downTimeout)
	}
	if _, err := s.Put(context.Background(), "k", []byte("v")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put with etcd down: %v, want ErrUnavailable", err)
	}
	c.Restart(0)
	c.WaitHealthy(0)
	waitWritable(t, s)
	if req, _ := s.timeouts(); req != s.timeout {
		t.Fatalf("after etcd answered again: request timeout %v, want %v", req, s.timeout)
	}
}
