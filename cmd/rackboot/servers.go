package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"rackboot/internal/cluster"
)

// serversCommand is `rackboot servers`: the servers sharing one store.
func serversCommand() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "servers",
		Short: "List the rackboot servers that share this server's store, with their health",
		Long: `servers asks a running rackboot which servers share its store (store.backend:
etcd): each one's name (* is the server asked), the address it advertises to
PXE clients, its HTTP URL, version and start time, whether it is alive (its
registration is held in etcd under a lease that expires 10 s after the
server dies) and the last check of its /healthz. A server that left stays
listed, not alive, for an hour.

If etcd does not answer, the list is the last one read, marked stale.
With the bolt store (one server) it lists the server alone.`,
		Example: `  rackboot servers
  rackboot servers --server http://10.0.0.12 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			snap, err := c.Servers(cmd.Context())
			if err != nil {
				return userError(err)
			}
			if f.json() {
				return writeJSON(cmd.OutOrStdout(), snap)
			}
			return writeServers(cmd.OutOrStdout(), snap, time.Now())
		},
	}
	f.register(cmd)
	return cmd
}

// writeServers prints one server a line.
func writeServers(w io.Writer, snap cluster.Snapshot, now time.Time) error {
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", name, dash(m.Advertise), dash(m.HTTPURL), dash(m.Version), up, alive, health(m.Health, now))
	}
	return tw.Flush()
}

func health(h *cluster.Health, now time.Time) string {
	switch {
	case h == nil:
		return "-"
	case h.OK:
		return "ok (" + now.Sub(h.Checked).Round(time.Second).String() + " ago)"
	}
	return "failing: " + strings.TrimSpace(h.Error)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
