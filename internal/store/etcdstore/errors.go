package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// request runs one request to etcd within the store's request timeout. It
// tries again, until that timeout, while etcd says the request was not served
// (a leader election under way, a member that could not be dialed), so that
// losing one member or the leader is not seen by callers. Its error says what
// happened and what to do, and wraps ErrUnavailable when etcd did not answer.
func (s *Store) request(ctx context.Context, op, key string, write bool, fn func(context.Context) error) error {
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	wait := 20 * time.Millisecond
	for {
		err := fn(rctx)
		if err == nil {
			return nil
		}
		if cerr := ctx.Err(); errors.Is(cerr, context.Canceled) {
			return fmt.Errorf("%s %q: %w", op, key, cerr)
		}
		if rctx.Err() == nil && notServed(err, write) {
			s.log.Debug("etcd request not served, trying again", "op", op, "key", key, "err", err)
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-rctx.Done():
				t.Stop()
			}
			wait = min(2*wait, 500*time.Millisecond)
			continue
		}
		err = s.describe(op, key, err, s.timeout)
		if errors.Is(err, ErrUnavailable) {
			if write {
				s.unavailWrites.Add(1)
			} else {
				s.unavailReads.Add(1)
			}
			s.log.Warn("etcd store request failed", "op", op, "key", key, "err", err)
		}
		return err
	}
}

// notServed reports whether err says etcd did not act on the request, so
// that sending it again cannot apply a write twice. Reads can always be sent
// again while etcd is unavailable.
func notServed(err error, write bool) bool {
	switch {
	case errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrLeaderChanged),
		errors.Is(err, rpctypes.ErrTooManyRequests), errors.Is(err, rpctypes.ErrNotCapable):
		return true
	case strings.Contains(err.Error(), "raft proposal dropped"): // no leader to take it
		return true
	case code(err) == codes.Unavailable && neverSent(err):
		return true
	}
	return !write && unavailable(err)
}

// neverSent reports whether a gRPC Unavailable error happened before the
// request reached a member.
func neverSent(err error) bool {
	msg := err.Error()
	for _, s := range []string{"connection refused", "Error while dialing", "there is no address available", "there is no connection available", "no such host"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// unavailable reports whether err means that etcd could not answer: no
// quorum, no leader, no member reachable, or no answer in time.
func unavailable(err error) bool {
	for _, e := range []error{
		context.DeadlineExceeded, rpctypes.ErrNoLeader, rpctypes.ErrNotLeader, rpctypes.ErrLeaderChanged,
		rpctypes.ErrTimeout, rpctypes.ErrTimeoutDueToLeaderFail, rpctypes.ErrTimeoutDueToConnectionLost,
		rpctypes.ErrTimeoutWaitAppliedIndex, rpctypes.ErrStopped, rpctypes.ErrNotCapable,
		rpctypes.ErrUnhealthy, rpctypes.ErrTooManyRequests,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	switch code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return strings.Contains(err.Error(), "raft proposal dropped")
}

// code is err's gRPC code, or codes.Unknown.
func code(err error) codes.Code {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return ee.Code()
	}
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return codes.Unknown
}

// describe wraps an etcd error with what happened and what to do.
func (s *Store) describe(op, key string, err error, timeout time.Duration) error {
	switch {
	case unavailable(err):
		return fmt.Errorf("%s %q: %w: no answer from %s within %v (the cluster has no quorum, or no member is reachable); "+
			"check that most etcd members are up and store.etcd.endpoints: %w", op, key, ErrUnavailable, s.endpoints, timeout, err)
	case errors.Is(err, rpctypes.ErrTooManyOps):
		return fmt.Errorf("%s %q: %w: more operations than the cluster's --max-txn-ops (store.etcd assumes %d): %w", op, key, ErrTxnTooLarge, s.maxOps, err)
	case errors.Is(err, rpctypes.ErrRequestTooLarge):
		return fmt.Errorf("%s %q: the request is larger than etcd's --max-request-bytes (1.5 MiB by default): %w", op, key, err)
	case errors.Is(err, rpctypes.ErrNoSpace):
		return fmt.Errorf("%s %q: etcd is out of space (alarm NOSPACE) and refuses writes: compact and defragment it, then 'etcdctl alarm disarm': %w", op, key, err)
	case errors.Is(err, rpctypes.ErrAuthFailed), errors.Is(err, rpctypes.ErrInvalidAuthToken), errors.Is(err, rpctypes.ErrUserEmpty),
		errors.Is(err, rpctypes.ErrAuthNotEnabled):
		return fmt.Errorf("%s %q: etcd refused the login: check store.etcd.username and password: %w", op, key, err)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return fmt.Errorf("%s %q: etcd user %s has no read-write permission on %q: grant its role the prefix: %w", op, key, "(store.etcd.username)", s.prefix, err)
	case code(err) == codes.Unauthenticated:
		return fmt.Errorf("%s %q: etcd needs a login: set store.etcd.username and password: %w", op, key, err)
	}
	return fmt.Errorf("etcd %s %q: %w", op, key, err)
}
