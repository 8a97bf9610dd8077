// Package host describes the machine a benchmark runs on, for the reports
// that must say how loaded it was.
package host

import (
	"os"
	"strings"
)

// LoadAvg is the 1, 5 and 15 minute load averages from /proc/loadavg
// ("0.52 0.61 0.70"), or "?" where there is no such file (FreeBSD, illumos).
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
