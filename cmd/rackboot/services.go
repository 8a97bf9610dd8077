package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"rackboot/internal/api"
	"rackboot/internal/store"
	"rackboot/internal/store/boltstore"
)

// services are the stateful parts of serve beside the boot protocols: the
// store and the API on top of it. Resources register their API routes in
// registerAPI (one line each, from their own files).
type services struct {
	store  store.Store
	tokens *api.Tokens
	api    *api.Server
	stops  []func()    // run by Close before the store closes
	leases leaseSource // GET /api/v1/leases, and the full DHCP server's: leases_serve.go
}

func openServices(ctx context.Context, env *bootEnv, log *slog.Logger) (*services, error) {
	st, err := boltstore.Open(env.cfg.DataDir, boltstore.Options{Timeout: 3 * time.Second, Logger: log.With("svc", "store")})
	if err != nil {
		return nil, err
	}
	tokens, created, err := api.LoadTokens(env.cfg.DataDir)
	if err != nil {
		st.Close()
		return nil, err
	}
	if created {
		// Printed once, to the terminal that first started rackboot; it stays
		// in the data directory for the CLI on this host.
		fmt.Printf("rackboot: new API token (also in %s/%s): %s\n", env.cfg.DataDir, api.TokenFile, tokens.Token())
	}
	s := &services{
		store:  st,
		tokens: tokens,
		api:    &api.Server{Token: tokens.Token, OpenReads: env.cfg.API.OpenReads, Logger: log.With("svc", "api")},
	}
	s.registerAPI(ctx, env, log)
	return s, nil
}

// registerAPI mounts every API resource.
func (s *services) registerAPI(ctx context.Context, env *bootEnv, log *slog.Logger) {
	s.mountMachines(ctx, env) // machines, events, boot-once, token rotation: machines_api.go
	// The platform catalog, and the menu's default build from it: platform_serve.go.
	s.mountPlatforms(ctx, env, log)
	s.mountLeases() // DHCP leases: leases_serve.go
}

func (s *services) Close() error {
	for _, stop := range s.stops {
		stop() // writers finish before the store closes
	}
	return s.store.Close()
}
