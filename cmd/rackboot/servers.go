package main

import (
	"time"

	"github.com/spf13/cobra"

	"rackboot/internal/textview"
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
			return textview.Servers(cmd.OutOrStdout(), snap, time.Now())
		},
	}
	f.register(cmd)
	return cmd
}
