package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"rackboot/internal/api"
	"rackboot/internal/config"
	"rackboot/internal/server"
)

// clientFlags are the flags of the commands that work through a running
// rackboot's API (machines, events, token).
type clientFlags struct {
	server, token, dataDir string
	output                 outputFlag
}

func (f *clientFlags) register(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	fs.StringVar(&f.server, "server", "", "the rackboot to talk to, like http://10.0.0.5 (default: the one serve.json in the data directory names, else http://127.0.0.1)")
	fs.StringVar(&f.token, "token", "", "API token for changes (default: $RACKBOOT_TOKEN, else the data directory's api-token)")
	fs.StringVar(&f.dataDir, "data-dir", config.Default().DataDir, "data directory of a rackboot on this host (for serve.json and api-token)")
	f.output.register(fs)
}

// client returns the API client the flags describe: --server, else the
// serve running on --data-dir, else serve's default port on this host.
func (f *clientFlags) client(ctx context.Context) (*api.Client, error) {
	if err := f.output.check(); err != nil {
		return nil, err
	}
	c, _, _ := api.Discover(ctx, f.dataDir, f.server, f.token, "http://127.0.0.1")
	return c, nil
}

func (f *clientFlags) json() bool { return f.output.json() }

// tokenCommand is `rackboot token rotate`.
func tokenCommand() *cobra.Command {
	var (
		f          clientFlags
		configPath string
	)
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the API token that changes through the API need",
	}
	f.register(cmd)
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the API token: the old one stops working at once",
		Long: `rotate asks the running rackboot for a new API token and prints it. The
server stores it in its data directory's api-token file, so the CLI on the
server's host finds it there; give it to remote users with --token or
RACKBOOT_TOKEN. Without a running server, rotate replaces the token
itself: in the store when --config says store.backend: etcd (every server
of the cluster follows it at once), else in --data-dir's file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(cmd.Context())
			if err != nil {
				return err
			}
			tok, err := c.RotateToken(cmd.Context())
			if err != nil && f.server == "" && isUnreachable(err) {
				tok, err = rotateOffline(cmd, configPath, f.dataDir)
			}
			if err != nil {
				return err
			}
			if f.json() {
				return writeJSON(cmd.OutOrStdout(), api.TokenResponse{Token: tok})
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			fmt.Fprintln(cmd.ErrOrStderr(), "rackboot: the old token no longer works; the new one is also in", filepath.Join(f.dataDir, api.TokenFile), "on the server")
			return nil
		},
	}
	rotate.Flags().StringVar(&configPath, "config", "", "serve's YAML configuration: with store.backend etcd, rotate without a running server writes the cluster's token")
	cmd.AddCommand(rotate)
	return cmd
}

// rotateOffline rotates the token with no server to ask: in the shared
// store when the configuration has one (a token file alone would be put
// back by the store's at the next start), else in the data directory.
func rotateOffline(cmd *cobra.Command, configPath, dataDir string) (string, error) {
	cfg, err := storeConfig(cmd, configPath, dataDir)
	if err != nil {
		return "", err
	}
	if cfg.Store.BackendName() != config.BackendEtcd {
		t, _, err := api.LoadTokens(cfg.DataDir)
		if err != nil {
			return "", err
		}
		return t.Rotate()
	}
	st, err := server.OpenStore(cfg, nil)
	if err != nil {
		return "", err
	}
	defer st.Close()
	t, _, err := api.LoadSharedTokens(cmd.Context(), cfg.DataDir, st)
	if err != nil {
		return "", err
	}
	return t.Rotate()
}

// isUnreachable tells a connection failure from an answer.
func isUnreachable(err error) bool {
	_, answered := err.(*api.Error)
	return !answered
}
