package main

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"rackboot/internal/api"
	"rackboot/internal/config"
	"rackboot/internal/lease"
	"rackboot/internal/server"
	"rackboot/internal/textview"
)

// leasesCommand is `rackboot leases`: the DHCP leases of dhcp.mode full.
func leasesCommand() *cobra.Command {
	var (
		dataDir, server, token string
		cfgPath                string
		state, mac, subnet     string
		output                 outputFlag
	)
	cmd := &cobra.Command{
		Use:   "leases",
		Short: "List the DHCP leases (dhcp.mode full)",
		Long: `leases lists the addresses rackboot's DHCP server has leased, by address:
the client's MAC, the state (bound, expired, released, or declined: in
quarantine because a client or a ping found the address in use), when the
lease ends, the host name and the relay it came through.

While rackboot serve runs on the data directory, the list comes from its API
(it names itself in <data-dir>/serve.json); otherwise from the store itself.`,
		Example: `  rackboot leases
  rackboot leases --state bound --subnet 10.0.0.0/24
  rackboot leases --mac 52:54:00:12:34:56 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := output.check(); err != nil {
				return err
			}
			q := url.Values{}
			for k, v := range map[string]string{"state": state, "mac": mac, "subnet": subnet} {
				if v != "" {
					q.Set(k, v)
				}
			}
			cfg, err := storeConfig(cmd, cfgPath, dataDir)
			if err != nil {
				return err
			}
			ls, where, err := listLeases(cmd.Context(), cfg, server, token, q)
			if err != nil {
				return userError(err)
			}
			if output.json() {
				return writeJSON(cmd.OutOrStdout(), ls)
			}
			if len(ls) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "no leases (from %s)\n", where)
				return nil
			}
			return textview.Leases(cmd.OutOrStdout(), ls, time.Now())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dataDir, "data-dir", config.Default().DataDir, "data directory of rackboot serve")
	fs.StringVar(&cfgPath, "config", "", "serve's YAML configuration (its data_dir and store are read from it)")
	fs.StringVar(&server, "server", "", "ask this rackboot's API, like http://10.0.0.5 (default: the serve on --data-dir, else its store)")
	fs.StringVar(&token, "token", "", "API token (default: $RACKBOOT_TOKEN, else the data directory's api-token)")
	output.register(fs)
	fs.StringVar(&state, "state", "", "only leases in this state: bound, expired, released or declined")
	fs.StringVar(&mac, "mac", "", "only this client's leases")
	fs.StringVar(&subnet, "subnet", "", "only leases in this network, like 10.0.0.0/24")
	return cmd
}

// listLeases asks --server, else the serve running on dataDir, else reads
// the store.
func listLeases(ctx context.Context, cfg config.Config, serverURL, token string, q url.Values) ([]lease.Lease, string, error) {
	dataDir := cfg.DataDir
	if c, _, found := api.Discover(ctx, dataDir, serverURL, token, ""); found {
		ls, err := c.Leases(ctx, q)
		return ls, "rackboot serve at " + c.Base, err
	}
	st, err := server.OpenStore(cfg, nil)
	if err != nil {
		return nil, "", storeHeld(err, dataDir)
	}
	defer st.Close()
	all, err := lease.List(ctx, st)
	if err != nil {
		return nil, "", err
	}
	ls, err := api.FilterLeases(all, q, time.Now())
	return ls, storeName(cfg), err
}
