package textview

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"rackboot/internal/lease"
)

// Leases writes the leases as a table, one a line.
func Leases(w io.Writer, ls []lease.Lease, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IP\tMAC\tSTATE\tENDS\tHOSTNAME\tSUBNET\tRELAY")
	for _, l := range ls {
		state := string(l.State)
		if l.Reserved {
			state += " (reserved)"
		}
		relay := "-"
		if l.Relay.IsValid() {
			relay = l.Relay.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.IP, orDash(l.MAC.String()), state,
			relTime(l.Expires, now), orDash(l.Hostname), l.Subnet, relay)
	}
	return tw.Flush()
}

// relTime says when t is from now: "in 11h59m", "3m05s ago".
func relTime(t, now time.Time) string {
	d := t.Sub(now)
	a := d.Abs()
	var s string
	switch {
	case a < time.Minute:
		s = a.Round(time.Second).String()
	case a < time.Hour:
		s = fmt.Sprintf("%dm%02ds", int(a.Minutes()), int(a.Seconds())%60)
	case a < 48*time.Hour:
		s = fmt.Sprintf("%dh%02dm", int(a.Hours()), int(a.Minutes())%60)
	default:
		s = fmt.Sprintf("%dd%02dh", int(a.Hours())/24, int(a.Hours())%24)
	}
	if d >= 0 {
		return "in " + s
	}
	return s + " ago"
}
