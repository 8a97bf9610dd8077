package api

import (
	"context"
	"net/http"

	"rackboot/internal/cluster"
)

// Servers serves GET /servers: the rackboot servers that share this
// server's store, as this server sees them (cluster.Snapshot): each one's
// name, advertise address, HTTP URL, version, start, whether its record is
// alive in etcd, and its last /healthz check; stale while etcd does not
// answer. With the bolt store it lists this server alone.
type Servers struct {
	View func() cluster.Snapshot
}

// Register mounts the route on s.
func (v *Servers) Register(s *Server) {
	s.Handle("GET /servers", func(w http.ResponseWriter, r *http.Request) error {
		snap := v.View()
		if snap.Members == nil {
			snap.Members = []cluster.Status{} // [], not null
		}
		return WriteJSON(w, http.StatusOK, snap)
	})
}

// Servers returns the servers a running rackboot knows.
func (c *Client) Servers(ctx context.Context) (cluster.Snapshot, error) {
	var out cluster.Snapshot
	err := c.Do(ctx, http.MethodGet, "/servers", nil, &out)
	return out, err
}
