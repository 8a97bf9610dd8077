// Package cluster lets the rackboot servers that share one etcd store know
// each other. Each server registers itself (Join) under an etcd lease that
// it keeps alive: when the server dies its record expires after the lease's
// TTL, when it stops (Close) the lease is revoked and the record goes at
// once. Every server follows the records (a list, then a watch) and keeps
// the list in memory, so that it can still show the last known list, marked
// stale, while etcd is unreachable.
//
// A server on the single-server bolt store uses Single, which lists only
// itself, so that the server code has one View either way.
package cluster

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// KeyPrefix is where the servers' records live, below the store's prefix:
// <store prefix>servers/<name>.
const KeyPrefix = "servers/"

// Member is what a server says about itself.
type Member struct {
	// Name identifies the server; it is unique among the servers of one
	// store (two servers with one name hide each other).
	Name string `json:"name"`
	// Advertise is the address DHCP tells clients to use.
	Advertise string `json:"advertise,omitempty"`
	// HTTPURL is the server's HTTP base URL (menus, platforms, API), with
	// no trailing slash: http://10.0.0.11:8080.
	HTTPURL string `json:"http_url,omitempty"`
	// Version is the rackboot version the server runs.
	Version string `json:"version,omitempty"`
	// Started is when the server started.
	Started time.Time `json:"started"`
	// Instance is random per process (set by Join), so that a server can
	// tell its own record from another server's with the same name.
	Instance string `json:"instance,omitempty"`
}

// Health is the answer of a member's /healthz, when checks are on.
type Health struct {
	OK      bool      `json:"ok"`
	Checked time.Time `json:"checked"`
	Error   string    `json:"error,omitempty"`
}

// Status is one member as this server sees it.
type Status struct {
	Member
	// Self is this server.
	Self bool `json:"self,omitempty"`
	// Alive means its record is in etcd (as last seen): its lease is kept
	// alive.
	Alive bool `json:"alive"`
	// LastSeen is the last time this server saw the record present.
	LastSeen time.Time `json:"last_seen"`
	// Health is the last /healthz check, nil when checks are off or none
	// was made yet.
	Health *Health `json:"health,omitempty"`
}

// Snapshot is the list of members at one moment.
type Snapshot struct {
	// Members, sorted by name: the alive ones, and those that left while
	// this server watched (Alive false) for Options.Forget.
	Members []Status `json:"members"`
	// Stale is set while etcd does not answer: Members is the last known
	// list, as of Synced.
	Stale bool `json:"stale,omitempty"`
	// Synced is the last time the list was read from etcd.
	Synced time.Time `json:"synced"`
	// Error says why the list is stale.
	Error string `json:"error,omitempty"`
}

// AliveCount is how many members are alive in s.
func (s Snapshot) AliveCount() int {
	n := 0
	for _, m := range s.Members {
		if m.Alive {
			n++
		}
	}
	return n
}

// Peers returns the alive members other than this server.
func (s Snapshot) Peers() []Status {
	var out []Status
	for _, m := range s.Members {
		if m.Alive && !m.Self {
			out = append(out, m)
		}
	}
	return out
}

// View is what the server needs of its cluster: who it is, who is there,
// how many are alive (for /metrics), and to leave at the end.
type View interface {
	Self() Member
	Members() Snapshot
	Alive() int
	Close() error
}

// ValidName checks a server name: it becomes an etcd key element and a
// store key element (platform status records).
func ValidName(name string) error {
	switch {
	case name == "":
		return errors.New("server name is empty: set one (the host name is a good choice)")
	case len(name) > 128:
		return fmt.Errorf("server name %.40q... is longer than 128 bytes", name)
	case !utf8.ValidString(name), strings.ContainsAny(name, "/\x00"), strings.TrimSpace(name) != name,
		name == ".", name == "..":
		return fmt.Errorf("server name %q: use letters, digits, dots and dashes (no slash, no spaces at the ends)", name)
	}
	return nil
}

// single is the View of a server alone on its store.
type single struct {
	self Member
}

// Single is the View of a server that shares its store with no one (the
// bolt backend): it lists itself, alive, and is never stale.
func Single(self Member) View {
	if self.Started.IsZero() {
		self.Started = time.Now()
	}
	return &single{self: self}
}

func (s *single) Self() Member { return s.self }
func (s *single) Alive() int   { return 1 }
func (s *single) Close() error { return nil }
func (s *single) Members() Snapshot {
	now := time.Now()
	return Snapshot{Members: []Status{{Member: s.self, Self: true, Alive: true, LastSeen: now}}, Synced: now}
}
