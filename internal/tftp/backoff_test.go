package tftp

import (
	"testing"
	"time"
)

// TestRetransmitBackoff: waits double up to maxBackoff unless the client
// set the timeout (RFC 2349), and never go below the configured timeout.
func TestRetransmitBackoff(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name  string
		tr    transfer
		waits []time.Duration
	}{
		{"default", transfer{timeout: s}, []time.Duration{s, 2 * s, 4 * s, 8 * s, 8 * s, 8 * s}},
		{"client's timeout option", transfer{timeout: 3 * s, fixedTimeout: true}, []time.Duration{3 * s, 3 * s, 3 * s}},
		{"configured above the cap", transfer{timeout: 20 * s}, []time.Duration{20 * s, 20 * s, 20 * s}},
		{"short", transfer{timeout: time.Millisecond}, []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}},
		{"huge, no overflow", transfer{timeout: time.Duration(1 << 62)}, []time.Duration{1 << 62, 1 << 62, 1 << 62}},
	} {
		for try, want := range tc.waits {
			if got := tc.tr.wait(try); got != want {
				t.Errorf("%s: wait(%d) = %v, want %v", tc.name, try, got, want)
			}
		}
	}
}
