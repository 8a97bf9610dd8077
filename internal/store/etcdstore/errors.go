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

// request runs one request to etcd within the store's request timeout, each
// attempt within a shorter one. It tries again, until the request timeout,
// while etcd says the request was not served (a leader election under way, a
// member that could not be dialed), so that losing one member, even the
// leader, is not seen by callers. A read is sent again after any failure that
// means etcd was unavailable. A write whose answer was lost (the member died,
// or the attempt timed out while the new leader was being elected) may or may
// not have been applied: applied reads the keys back and tells; the write is
// sent again only when it was not. The error says what happened and what to
// do, and wraps ErrUnavailable when etcd did not answer in time.
func (s *Store) request(ctx context.Context, op, key string, write bool, fn func(context.Context) error, applied func(context.Context) (bool, error)) error {
	timeout, attempt := s.timeouts()
	limit := timeout // for the message: the caller's deadline may be sooner
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < limit {
		limit = time.Until(dl).Round(time.Millisecond)
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wait := 20 * time.Millisecond
	pending := false // a write's answer was lost: find out before sending again
	for {
		actx, acancel := context.WithTimeout(rctx, attempt)
		var err error
		if pending {
			var done bool
			done, err = applied(actx)
			if err == nil && !done {
				acancel()
				pending = false
				continue // not applied: send it again
			}
		} else {
			err = fn(actx)
		}
		if err == nil {
			acancel()
			s.markUp()
			return nil
		}
		if aerr := actx.Err(); aerr != nil && !errors.Is(err, aerr) {
			// The try's deadline, seen by the server ("Unknown: context
			// deadline exceeded"): etcd did not answer in time.
			err = fmt.Errorf("%w (%w)", err, aerr)
		}
		acancel()
		if cerr := ctx.Err(); errors.Is(cerr, context.Canceled) {
			return fmt.Errorf("%s %q: %w", op, key, cerr)
		}
		retry := false
		switch {
		case rctx.Err() != nil:
		case notServed(err):
			retry = true
		case unavailable(err) && (!write || applied != nil):
			retry = true
			pending = pending || write
		}
		if retry {
			s.log.Debug("etcd request not answered, trying again", "op", op, "key", key, "verify", pending, "err", err)
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-rctx.Done():
				t.Stop()
			}
			wait = min(2*wait, 500*time.Millisecond)
			if rctx.Err() == nil {
				continue
			}
		}
		if rerr := rctx.Err(); rerr != nil && !errors.Is(err, rerr) {
			err = fmt.Errorf("%w (%w)", err, rerr)
		}
		err = s.describe(op, key, err, limit)
		if errors.Is(err, ErrUnavailable) {
			s.markDown()
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
// that sending it again cannot apply a write twice.
func notServed(err error) bool {
	switch {
	case errors.Is(err, rpctypes.ErrNoLeader), errors.Is(err, rpctypes.ErrLeaderChanged),
		errors.Is(err, rpctypes.ErrTooManyRequests), errors.Is(err, rpctypes.ErrNotCapable):
		return true
	case strings.Contains(err.Error(), "raft proposal dropped"): // no leader to take it
		return true
	case code(err) == codes.Unavailable && neverSent(err):
		return true
	}
	return false
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
	// A deadline the server saw first comes back as "Unknown: context
	// deadline exceeded".
	msg := err.Error()
	return strings.Contains(msg, "raft proposal dropped") || strings.Contains(msg, "context deadline exceeded")
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
