package etcdstore

import "time"

// While etcd is known to be unavailable, a request gets one short try
// instead of the whole request timeout. A boot goes on from what each server
// holds when etcd has no quorum (DESIGN: failures keep machines booting),
// but a menu request reads the store a few times (the machine, the catalog's
// default) and falls back only when each read fails: at 5 s a read, iPXE's
// menu took about 23 s to come without quorum. The first answer ends it; and
// it lasts only downFor after the last failure, so that a store idle since
// then is given the full timeout again.
const (
	downTimeout = 500 * time.Millisecond
	downFor     = 30 * time.Second
)

// markDown records that a request found etcd unavailable.
func (s *Store) markDown() { s.downUntil.Store(time.Now().Add(downFor).UnixNano()) }

// markUp records that etcd answered.
func (s *Store) markUp() {
	if s.downUntil.Load() != 0 {
		s.downUntil.Store(0)
	}
}

// timeouts are the request and per-attempt timeouts for the next request:
// the configured ones, or one short try while etcd is known to be down.
func (s *Store) timeouts() (request, attempt time.Duration) {
	if until := s.downUntil.Load(); until != 0 && time.Now().UnixNano() < until {
		t := min(s.timeout, downTimeout)
		return t, t
	}
	return s.timeout, s.attempt
}
