package storm

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is a storm's outcome. Durations are in seconds.
type Report struct {
	Machines int     `json:"machines"`
	BIOS     int     `json:"bios"`
	UEFI     int     `json:"uefi"`
	SpreadS  float64 `json:"spread_s"`
	Booted   int     `json:"booted"` // loaded the default item's kernel and modules, or exited to disk as the menu said
	Exited   int     `json:"exited"` // of Booted: the default item left iPXE (local disk)
	Failed   int     `json:"failed"`
	// AllBootedS is the time from the storm's start until the last machine
	// finished booting; when some failed, until the last one finished
	// either way (see Failed).
	AllBootedS float64        `json:"all_booted_s"`
	Stages     []StageStats   `json:"stages"`
	Boot       StageStats     `json:"boot"` // each machine's whole chain, from power-on
	Failures   []FailureGroup `json:"failures,omitempty"`
	Bytes      int64          `json:"bytes"` // received from the servers, all stages, duplicates included

	DHCPSent     int64 `json:"dhcp_sent"`
	DHCPReceived int64 `json:"dhcp_received"`
	DHCPStray    int64 `json:"dhcp_stray"` // replies for no machine of ours
}

// StageStats summarises one stage over the machines that reached it.
type StageStats struct {
	Name    string  `json:"name"`
	Done    int     `json:"done"`
	Failed  int     `json:"failed"`
	Retries int     `json:"retries"` // retransmissions, repeated requests
	P50S    float64 `json:"p50_s"`
	P95S    float64 `json:"p95_s"`
	P99S    float64 `json:"p99_s"`
	MaxS    float64 `json:"max_s"`
	Bytes   int64   `json:"bytes"`
}

// FailureGroup counts the machines that failed in one stage.
type FailureGroup struct {
	Stage   string `json:"stage"`
	Count   int    `json:"count"`
	Example string `json:"example"` // the first error seen
	// Machines names the first maxListedFailures machines that failed
	// here, by MAC, so that they can be found in the servers' logs.
	Machines []string `json:"machines"`
	// Errors are those machines' errors, in the same order, and when each
	// failed (seconds after the storm started): to tell one give-up rule
	// from another, and to find the moment in the servers' logs.
	Errors []string `json:"errors,omitempty"`
}

// maxListedFailures bounds FailureGroup.Machines: a storm where every
// machine fails needs its example, not 500 MACs.
const maxListedFailures = 16

func buildReport(cfg Config, start time.Time, ms []*machine) *Report {
	r := &Report{Machines: len(ms), SpreadS: cfg.Spread.Seconds()}
	var perStage [numStages][]time.Duration
	var total []time.Duration
	stages := make([]StageStats, numStages)
	failures := map[Stage]*FailureGroup{}
	var last time.Time
	for _, m := range ms {
		if m.id.arch == 0 {
			r.BIOS++
		} else {
			r.UEFI++
		}
		res := &m.res
		if res.end.After(last) {
			last = res.end
		}
		for st := range numStages {
			stages[st].Retries += res.retries[st]
			stages[st].Bytes += res.bytes[st]
			r.Bytes += res.bytes[st]
			if res.done[st] {
				stages[st].Done++
				perStage[st] = append(perStage[st], res.dur[st])
			}
		}
		if res.failed >= 0 {
			r.Failed++
			stages[res.failed].Failed++
			g := failures[res.failed]
			if g == nil {
				g = &FailureGroup{Stage: res.failed.String(), Example: fmt.Sprint(res.err)}
				failures[res.failed] = g
			}
			g.Count++
			if len(g.Machines) < maxListedFailures {
				g.Machines = append(g.Machines, m.id.mac.String())
				g.Errors = append(g.Errors, fmt.Sprintf("%.1fs: %v", res.end.Sub(start).Seconds(), res.err))
			}
			continue
		}
		r.Booted++
		if res.exited {
			r.Exited++
		}
		total = append(total, res.end.Sub(start))
	}
	if !last.IsZero() {
		r.AllBootedS = last.Sub(start).Seconds()
	}
	for st := range numStages {
		stages[st].Name = st.String()
		stages[st].fill(perStage[st])
	}
	r.Stages = stages
	r.Boot = StageStats{Name: "boot", Done: r.Booted, Failed: r.Failed}
	r.Boot.fill(total)
	for st := range numStages {
		if g := failures[st]; g != nil {
			r.Failures = append(r.Failures, *g)
		}
	}
	return r
}

func (s *StageStats) fill(ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	s.P50S = percentile(ds, 50).Seconds()
	s.P95S = percentile(ds, 95).Seconds()
	s.P99S = percentile(ds, 99).Seconds()
	s.MaxS = ds[len(ds)-1].Seconds()
}

// percentile is the nearest-rank percentile of sorted ds.
func percentile(ds []time.Duration, p int) time.Duration {
	rank := (p*len(ds) + 99) / 100 // ceil(p/100 * n)
	return ds[max(rank, 1)-1]
}

// WriteText prints the report for a terminal.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "storm: %d machines (%d BIOS, %d UEFI), powered on over %s\n",
		r.Machines, r.BIOS, r.UEFI, secs(r.SpreadS))
	fmt.Fprintf(&b, "booted %d (%d of them exited to local disk), failed %d; ", r.Booted, r.Exited, r.Failed)
	if r.Failed == 0 {
		fmt.Fprintf(&b, "all booted in %s\n", secs(r.AllBootedS))
	} else {
		fmt.Fprintf(&b, "last machine done after %s\n", secs(r.AllBootedS))
	}
	fmt.Fprintf(&b, "received %s; DHCP packets sent %d, received %d (%d for nobody here)\n\n",
		FormatBytes(r.Bytes), r.DHCPSent, r.DHCPReceived, r.DHCPStray)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\tdone\tfailed\tretries\tp50\tp95\tp99\tmax\tbytes\t")
	for _, s := range append(append([]StageStats(nil), r.Stages...), r.Boot) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", s.Name, s.Done, s.Failed, s.Retries,
			secs(s.P50S), secs(s.P95S), secs(s.P99S), secs(s.MaxS), FormatBytes(s.Bytes))
	}
	tw.Flush()
	if len(r.Failures) > 0 {
		b.WriteString("\nfailures:\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "  %s: %d, e.g. %s\n", f.Stage, f.Count, f.Example)
			if len(f.Machines) > 0 {
				more := ""
				if f.Count > len(f.Machines) {
					more = fmt.Sprintf(" and %d more", f.Count-len(f.Machines))
				}
				fmt.Fprintf(&b, "    machines: %s%s\n", strings.Join(f.Machines, " "), more)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func secs(s float64) string {
	switch {
	case s == 0:
		return "-"
	case s < 0.01:
		return fmt.Sprintf("%.2fms", s*1000)
	case s < 10:
		return fmt.Sprintf("%.3fs", s)
	}
	return fmt.Sprintf("%.1fs", s)
}

// FormatBytes writes n in binary units.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
