package smartos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"rackboot/internal/store"
)

// statusPrefix holds where each build is, per server:
// platform-status/<build>/<server> is a PlatformStatus. (Not below
// "platforms/", which is the catalog.)
const statusPrefix = "platform-status/"

// The states of a build on one server.
const (
	// SyncPresent: on the server's disk, matching the catalog's manifest,
	// offered in its menus.
	SyncPresent = "present"
	// SyncFetching: being fetched from a peer (Bytes of Total so far).
	SyncFetching = "fetching"
	// SyncFailed: the last fetch failed (Error says why); it is tried
	// again later.
	SyncFailed = "failed"
	// SyncWaiting: cannot be fetched yet (Error says why: no manifest in
	// the catalog yet, or no live server has it).
	SyncWaiting = "waiting"
)

// PlatformStatus is one build on one server, as that server last wrote it.
type PlatformStatus struct {
	Build  string `json:"build"`
	Server string `json:"server"`
	State  string `json:"state"`
	// Manifest is the SHA-256 of the manifest present or being fetched.
	Manifest string `json:"manifest,omitempty"`
	// Peer is the server fetched from.
	Peer    string    `json:"peer,omitempty"`
	Bytes   int64     `json:"bytes,omitempty"`
	Total   int64     `json:"total,omitempty"`
	Error   string    `json:"error,omitempty"`
	Updated time.Time `json:"updated"`
}

// same reports whether two statuses say the same (Updated aside).
func (s PlatformStatus) same(o PlatformStatus) bool {
	s.Updated, o.Updated = time.Time{}, time.Time{}
	return s == o
}

func statusKey(build, server string) string { return statusPrefix + build + "/" + server }

// ReadPlatformStatus returns, per build, where it is: each server's status,
// sorted by server. Builds no longer in the catalog may still have records
// until a Syncer removes them.
func ReadPlatformStatus(ctx context.Context, st store.Store) (map[string][]PlatformStatus, error) {
	kvs, err := st.List(ctx, statusPrefix)
	if err != nil {
		return nil, fmt.Errorf("read the platforms' status: %w", err)
	}
	out := map[string][]PlatformStatus{}
	for _, kv := range kvs {
		var s PlatformStatus
		if err := json.Unmarshal(kv.Value, &s); err != nil {
			return nil, fmt.Errorf("platform status %s is corrupt: %w", kv.Key, err)
		}
		build, server, ok := strings.Cut(strings.TrimPrefix(kv.Key, statusPrefix), "/")
		if !ok {
			continue
		}
		s.Build, s.Server = build, server
		out[build] = append(out[build], s)
	}
	for _, ss := range out {
		slices.SortFunc(ss, func(a, b PlatformStatus) int { return strings.Compare(a.Server, b.Server) })
	}
	return out, nil
}

// PresentOn lists the servers where build is present, in the status
// records of statuses (from ReadPlatformStatus), matching manifest when it
// is not empty.
func PresentOn(statuses []PlatformStatus, manifest string) []string {
	var out []string
	for _, s := range statuses {
		if s.State == SyncPresent && (manifest == "" || s.Manifest == manifest) {
			out = append(out, s.Server)
		}
	}
	return out
}

// validServer checks a server name for use in a store key.
func validServer(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("server name %q: must be non-empty, without a slash", name)
	}
	return store.ValidKey(statusKey("x", name))
}

// errNoManifest is a build whose catalog entry has no manifest, on a server
// that does not have it.
var errNoManifest = errors.New("the catalog entry has no manifest yet; a server that has the build on disk adds it when its syncer runs")
