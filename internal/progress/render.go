// Package progress shows how a long task is going: a bar redrawn in place on
// a terminal (bytes, percentage, rate, time left, fitted to the terminal's
// width), and plain log lines every few seconds anywhere else (a pipe, a
// file, a CI log), where a redrawn bar would be noise.
//
// The rendering functions (Bar, Line) are pure, so that what a user sees is
// tested without a terminal; Printer decides when to draw.
package progress

import (
	"fmt"
	"strings"
	"time"
)

// Update is one report of a task's progress.
type Update struct {
	Phase string        // what is being done: "download", "verify", "unpack"
	Name  string        // what it is done to: a file name
	Bytes int64         // done so far
	Total int64         // in all; 0 or less when unknown
	Rate  float64       // bytes per second; 0 when unknown
	ETA   time.Duration // time left; 0 when unknown
}

// Percent returns how much is done, 0-100, or -1 when the total is unknown.
func (u Update) Percent() int {
	if u.Total <= 0 {
		return -1
	}
	p := int(u.Bytes * 100 / u.Total)
	return max(0, min(p, 100))
}

// minBar is the narrowest bar worth drawing, brackets included.
const minBar = 12

// Bar renders u as one terminal line of at most width-1 columns (the last
// column is left free: writing it makes some terminals wrap at once):
//
//	download platform-20250101T000000Z.tgz [=======>     ]  45%  12.3 MiB/27.0 MiB  5.2 MiB/s  ETA 3s
//
// When the line does not fit, the name goes first, then the bar, then the
// statistics from the right (time left, rate). A task of unknown size shows
// no bar and no percentage.
func Bar(u Update, width int) string {
	width--
	if width <= 0 {
		return ""
	}
	stats := barStats(u)
	label := strings.TrimSpace(u.Phase + " " + u.Name)
	if pct := u.Percent(); pct >= 0 {
		all := strings.Join(stats, "  ")
		for _, l := range []string{label, u.Phase} {
			if room := width - len(all) - len(l) - 2; room >= minBar {
				return l + " " + bar(pct, room) + " " + all
			}
		}
	}
	for n := len(stats); n > 0; n-- {
		for _, l := range []string{label, u.Phase} {
			if line := l + " " + strings.Join(stats[:n], "  "); len(line) <= width {
				return line
			}
		}
	}
	return u.Phase[:min(len(u.Phase), width)]
}

// bar draws "[=====>    ]" in n columns for pct percent.
func bar(pct, n int) string {
	inner := n - 2
	done := inner * pct / 100
	s := strings.Repeat("=", done)
	if done < inner {
		s += ">" + strings.Repeat(" ", inner-done-1)
	}
	return "[" + s + "]"
}

// barStats are the numbers of a bar line, most important first.
func barStats(u Update) []string {
	var p []string
	if pct := u.Percent(); pct >= 0 {
		p = append(p, fmt.Sprintf("%3d%%", pct), Bytes(u.Bytes)+"/"+Bytes(u.Total))
	} else {
		p = append(p, Bytes(u.Bytes))
	}
	if u.Rate > 0 {
		p = append(p, Bytes(int64(u.Rate))+"/s")
	}
	if u.ETA > 0 && u.Percent() < 100 {
		p = append(p, "ETA "+Duration(u.ETA))
	}
	return p
}

// Line renders u as a log line, for output that is not a terminal:
//
//	download platform-20250101T000000Z.tgz: 12.3 MiB of 27.0 MiB (45%), 5.2 MiB/s, 3s left
func Line(u Update) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(u.Phase + " " + u.Name))
	b.WriteString(": ")
	if pct := u.Percent(); pct >= 0 {
		fmt.Fprintf(&b, "%s of %s (%d%%)", Bytes(u.Bytes), Bytes(u.Total), pct)
	} else {
		b.WriteString(Bytes(u.Bytes))
	}
	if u.Rate > 0 {
		b.WriteString(", " + Bytes(int64(u.Rate)) + "/s")
	}
	if u.ETA > 0 && u.Percent() < 100 {
		b.WriteString(", " + Duration(u.ETA) + " left")
	}
	return b.String()
}

// Bytes formats a size with binary units: "512 B", "12.3 MiB", "1.0 GiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Duration formats a time left the way people read it: "45s", "3m05s", "2h10m".
func Duration(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second) // round up: "0s left" is a lie
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}
