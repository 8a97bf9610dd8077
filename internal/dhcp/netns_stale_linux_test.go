package dhcp

import (
	"sync"
	"testing"

	"rackboot/internal/netnstest"
)

// netnsName names this package's test namespaces as netnstest says, so that
// a killed run's are found and removed by the next.
func netnsName(prefix, id, role string) string { return netnstest.Name(prefix, id, role) }

var sweepOnce sync.Once

// sweepStaleNetns removes, once per test binary, the namespaces of dead runs.
func sweepStaleNetns(t *testing.T) {
	sweepOnce.Do(func() {
		for _, r := range netnstest.SweepStale("rbtest-", "rbf-") {
			t.Logf("removed namespace %s, left by a killed run", r)
		}
	})
}
