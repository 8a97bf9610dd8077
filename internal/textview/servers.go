package textview

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"rackboot/internal/cluster"
)

// Servers writes the servers sharing a store, one a line (* marks the one
// asked), after a warning when the list is stale.
func Servers(w io.Writer, snap cluster.Snapshot, now time.Time) error {
	if snap.Stale {
		fmt.Fprintf(w, "stale: etcd has not answered since %s (%s); the list below is the last one read\n",
			snap.Synced.Local().Format(time.DateTime), snap.Error)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADVERTISE\tHTTP\tVERSION\tUP\tALIVE\tHEALTH")
	for _, m := range snap.Members {
		name := m.Name
		if m.Self {
			name += " *"
		}
		up := "-"
		if m.Alive && !m.Started.IsZero() {
			up = now.Sub(m.Started).Round(time.Second).String()
		}
		alive := "yes"
		if !m.Alive {
			alive = "no (last seen " + now.Sub(m.LastSeen).Round(time.Second).String() + " ago)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, orDash(m.Advertise), orDash(m.HTTPURL), orDash(m.Version), up, alive, health(m.Health, now))
	}
	return tw.Flush()
}

// health is the last /healthz check of a server.
func health(h *cluster.Health, now time.Time) string {
	switch {
	case h == nil:
		return "-"
	case h.OK:
		return "ok (" + now.Sub(h.Checked).Round(time.Second).String() + " ago)"
	}
	return "failing: " + strings.TrimSpace(h.Error)
}
