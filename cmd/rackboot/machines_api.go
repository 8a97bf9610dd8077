package main

import (
	"context"

	"rackboot/internal/api"
	"rackboot/internal/machines"
)

// mountMachines starts the registry's writer and mounts the machine, event
// and token routes.
func (s *services) mountMachines(ctx context.Context, env *bootEnv) {
	api.RegisterTokenRotate(s.api, s.tokens)
	m := env.machines
	if m == nil {
		return
	}
	wait := m.startRecorder(ctx, &machines.Registry{Store: s.store})
	s.stops = append(s.stops, func() {
		m.events.Close() // ends the recorder's subscription: it writes what it holds
		wait()
	})
	m.mountAPI(s.api, env, ctx.Done())
}
