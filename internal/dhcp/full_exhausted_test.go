package dhcp

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestPoolExhaustedWarningRateLimited: a flood of refusals logs one
// warning per subnet per exhaustedEvery, with the count since the last.
func TestPoolExhaustedWarningRateLimited(t *testing.T) {
	var buf bytes.Buffer
	s := &FullServer{Config: Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))}}
	a, b := netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("10.0.1.0/24")
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		s.poolExhausted(a, "52:54:00:00:00:01", t0.Add(time.Duration(i)*time.Millisecond)) // 1 s of flood
	}
	s.poolExhausted(b, "52:54:00:00:00:02", t0)
	s.poolExhausted(a, "52:54:00:00:00:03", t0.Add(exhaustedEvery))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"subnet=10.0.0.0/24 refused=1 ", "subnet=10.0.1.0/24 refused=1 ", "subnet=10.0.0.0/24 refused=1000 "}
	if len(lines) != len(want) {
		t.Fatalf("%d warnings, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("warning %d: %s\nwant %q in it", i, lines[i], w)
		}
	}
}
