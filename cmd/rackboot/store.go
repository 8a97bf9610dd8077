package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"rackboot/internal/config"
)

// storeConfig is the configuration the commands that may open the store
// themselves need: --config's data_dir and store, with --data-dir over it
// when given.
func storeConfig(cmd *cobra.Command, path, dataDir string) (config.Config, error) {
	cfg := config.Default()
	if path != "" {
		if err := cfg.Load(path); err != nil {
			return cfg, err
		}
	}
	if path == "" || cmd.Flags().Changed("data-dir") {
		cfg.DataDir = dataDir
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// storeName says which store a command read, for the user.
func storeName(cfg config.Config) string {
	if cfg.Store.BackendName() == config.BackendEtcd {
		return "etcd store " + cfg.Store.EtcdPrefix() + " at " + fmt.Sprint(cfg.Store.Etcd.Endpoints)
	}
	return "data directory " + cfg.DataDir
}
