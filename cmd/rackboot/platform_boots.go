package main

import (
	"context"
	"strings"
	"time"

	"rackboot/internal/machines"
	"rackboot/internal/smartos"
	"rackboot/internal/store"
)

// bootCounts counts, per build, the boots since a time that fetched the
// build's kernel, from the boots the machines registry keeps (each
// machine's last machines.KeepBoots).
func bootCounts(st store.Store) func(context.Context, time.Time) (map[string]int, error) {
	reg := &machines.Registry{Store: st}
	return func(ctx context.Context, since time.Time) (map[string]int, error) {
		ms, err := reg.List(ctx)
		if err != nil {
			return nil, err
		}
		counts := map[string]int{}
		for _, m := range ms {
			for _, b := range m.Boots {
				if build := kernelBuild(b.Kernel); build != "" && !b.Started.Before(since) {
					counts[build]++
				}
			}
		}
		return counts, nil
	}
}

// kernelBuild returns the build of a SmartOS kernel path
// ("smartos/<build>/platform/i86pc/kernel/amd64/unix"), or "".
func kernelBuild(p string) string {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(p, "/"), smartos.PlatformsSubdir+"/")
	if !ok {
		return ""
	}
	build, file, ok := strings.Cut(rest, "/")
	if !ok || file != smartos.KernelFile {
		return ""
	}
	return build
}
