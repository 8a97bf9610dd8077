package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// follow lists the records, then watches them from the list's revision;
// when the watch ends it lists again.
func (m *Membership) follow() {
	defer m.wg.Done()
	wait := 100 * time.Millisecond
	for m.ctx.Err() == nil {
		rev, err := m.list(m.ctx)
		if err != nil {
			m.setStale(err)
			if !sleep(m.ctx, wait) {
				return
			}
			wait = min(2*wait, m.opt.Refresh)
			continue
		}
		wait = 100 * time.Millisecond
		// WithRequireLeader: a member cut off from the quorum ends the
		// watch instead of going silent.
		wch := m.cli.Watch(clientv3.WithRequireLeader(m.ctx), m.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		for resp := range wch {
			if err := resp.Err(); err != nil {
				m.log.Debug("watch of the servers ended", "err", err)
				break
			}
			for _, ev := range resp.Events {
				m.applyEvent(ev)
			}
		}
		if !sleep(m.ctx, wait) {
			return
		}
	}
}

// refresh lists the records every Options.Refresh: a list that fails marks
// the view stale (a watch on an unreachable etcd says nothing).
func (m *Membership) refresh() {
	defer m.wg.Done()
	t := time.NewTicker(m.opt.Refresh)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-m.ctx.Done():
			return
		}
		if _, err := m.list(m.ctx); err != nil && m.ctx.Err() == nil {
			m.setStale(err)
		}
	}
}

// list reads every record and makes the view match it; it returns the
// revision read at.
func (m *Membership) list(ctx context.Context) (int64, error) {
	rctx, cancel := context.WithTimeout(ctx, m.opt.RequestTimeout)
	defer cancel()
	resp, err := m.cli.Get(rctx, m.prefix, clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("list the servers: %w", err)
	}
	rev := resp.Header.Revision
	now := time.Now()
	seen := map[string]bool{}
	m.mu.Lock()
	changed := m.stale
	m.stale, m.errMsg, m.synced = false, "", now
	for _, kv := range resp.Kvs {
		name := strings.TrimPrefix(string(kv.Key), m.prefix)
		seen[name] = true
		changed = m.putLocked(name, kv.Value, kv.ModRevision, now) || changed
	}
	for name, e := range m.members {
		if !seen[name] && e.st.Alive && e.rev < rev {
			e.st.Alive, e.rev = false, rev
			changed = true
			m.log.Info("server gone", "server", name)
		}
	}
	missing := !seen[m.self.Name] && !m.closed
	m.mu.Unlock()
	if missing {
		// Our record is not there (deleted before a watch could see it,
		// or the lease is being replaced): keep() writes it again.
		m.signalReput()
	}
	if changed {
		m.changed()
	}
	return rev, nil
}

// applyEvent applies one watch event.
func (m *Membership) applyEvent(ev *clientv3.Event) {
	name := strings.TrimPrefix(string(ev.Kv.Key), m.prefix)
	now := time.Now()
	m.mu.Lock()
	var changed bool
	if ev.Type == mvccpb.PUT {
		changed = m.putLocked(name, ev.Kv.Value, ev.Kv.ModRevision, now)
	} else if e, ok := m.members[name]; ok && e.rev < ev.Kv.ModRevision {
		changed = e.st.Alive
		e.st.Alive, e.rev = false, ev.Kv.ModRevision
		if changed {
			m.log.Info("server gone", "server", name)
		}
	}
	self := name == m.self.Name && ev.Type == mvccpb.DELETE && !m.closed
	m.mu.Unlock()
	if self {
		m.signalReput()
	}
	if changed {
		m.changed()
	}
}

// putLocked records a member's record at rev; it reports whether the alive
// set or a record changed. m.mu is held.
func (m *Membership) putLocked(name string, value []byte, rev int64, now time.Time) bool {
	e, ok := m.members[name]
	if ok && e.rev > rev {
		return false
	}
	var mem Member
	if err := json.Unmarshal(value, &mem); err != nil {
		m.log.Warn("server record is not JSON; ignored", "key", m.prefix+name, "err", err)
		return false
	}
	mem.Name = name
	if !ok {
		e = &entry{}
		m.members[name] = e
	}
	changed := !e.st.Alive || e.st.Member != mem
	if changed && !e.st.Alive {
		m.log.Info("server alive", "server", name, "http", mem.HTTPURL, "version", mem.Version)
	}
	if name == m.self.Name && mem.Instance != m.self.Instance && e.st.Member != mem {
		m.log.Error("another server registered with this server's name: give each server its own name",
			"server", name, "other_advertise", mem.Advertise, "other_instance", mem.Instance)
	}
	e.st.Member, e.st.Alive, e.st.LastSeen, e.rev = mem, true, now, rev
	e.st.Self = name == m.self.Name
	return changed
}

func (m *Membership) signalReput() {
	select {
	case m.reput <- struct{}{}:
	default:
	}
}

// setStale marks the view stale after err.
func (m *Membership) setStale(err error) {
	m.mu.Lock()
	changed := !m.stale
	m.stale, m.errMsg = true, err.Error()
	m.mu.Unlock()
	if changed {
		m.log.Warn("etcd does not answer: the list of servers is the last known one", "err", err)
		m.changed()
	}
}

func (m *Membership) changed() {
	if m.opt.OnChange != nil {
		m.opt.OnChange(m.Members())
	}
}

// checkHealth asks every alive member's /healthz every HealthInterval.
func (m *Membership) checkHealth() {
	defer m.wg.Done()
	t := time.NewTicker(m.opt.HealthInterval)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for _, s := range m.Members().Members {
			if !s.Alive || s.HTTPURL == "" {
				continue
			}
			wg.Go(func() {
				h := m.check(s.HTTPURL)
				m.mu.Lock()
				if e, ok := m.members[s.Name]; ok && e.st.HTTPURL == s.HTTPURL {
					e.st.Health = &h
				}
				m.mu.Unlock()
			})
		}
		wg.Wait()
		select {
		case <-t.C:
		case <-m.ctx.Done():
			return
		}
	}
}

func (m *Membership) check(base string) Health {
	h := Health{Checked: time.Now()}
	req, err := http.NewRequestWithContext(m.ctx, http.MethodGet, base+"/healthz", nil)
	if err != nil {
		h.Error = err.Error()
		return h
	}
	resp, err := m.opt.HTTPClient.Do(req)
	if err != nil {
		h.Error = err.Error()
		return h
	}
	resp.Body.Close()
	h.OK = resp.StatusCode == http.StatusOK
	if !h.OK {
		h.Error = "/healthz: " + resp.Status
	}
	return h
}
