package progress

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// Timing of a Printer's output.
const (
	// RedrawInterval is the least time between two redraws of a bar.
	RedrawInterval = 100 * time.Millisecond
	// LogInterval is the least time between two log lines of one phase.
	LogInterval = 5 * time.Second
)

// Printer shows Updates on a writer: as a bar redrawn in place when the
// writer is a terminal, as log lines otherwise. Its methods are safe for
// concurrent use. The zero value is not usable; call New, NewBar or NewLog.
type Printer struct {
	w        io.Writer
	tty      bool
	width    func() int
	now      func() time.Time
	interval time.Duration // log mode: between lines of one phase

	mu      sync.Mutex
	cur     Update    // the last update of the current phase
	started time.Time // when the current phase began
	base    int64     // its Bytes at that time
	drawn   time.Time // bar: last redraw; log: last line
	visible bool      // a bar is on the current line
	active  bool      // a phase has begun and not ended

	lastLogged int64 // log mode: Bytes in the last line
}

// New returns a Printer for w: a bar if w is a terminal (and TERM is not
// "dumb"), log lines otherwise.
func New(w io.Writer) *Printer {
	if f, ok := w.(*os.File); ok && os.Getenv("TERM") != "dumb" && IsTerminal(f) {
		return NewBar(w, func() int { return TerminalWidth(f) })
	}
	return NewLog(w, LogInterval)
}

// NewBar returns a Printer that draws a bar on w, a terminal width() columns
// wide (asked before each redraw, so a resized window is followed).
func NewBar(w io.Writer, width func() int) *Printer {
	return &Printer{w: w, tty: true, width: width, now: time.Now}
}

// NewLog returns a Printer that writes a line when a phase starts, at most
// every interval while it runs, and when it ends.
func NewLog(w io.Writer, interval time.Duration) *Printer {
	return &Printer{w: w, interval: interval, now: time.Now}
}

// IsTerminal reports whether this Printer draws a bar.
func (p *Printer) IsTerminal() bool { return p.tty }

// Update reports progress. A new Phase or Name ends the previous one (its
// last state stays on screen) and begins another. When u.Rate is 0 the
// Printer measures the rate itself, and with it the time left.
func (p *Printer) Update(u Update) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.active && (u.Phase != p.cur.Phase || u.Name != p.cur.Name) {
		p.endLocked()
	}
	if !p.active {
		p.active, p.started, p.base, p.drawn = true, now, u.Bytes, time.Time{}
	}
	p.measure(&u, now)
	p.cur = u
	complete := u.Total > 0 && u.Bytes >= u.Total
	if p.tty {
		if complete || now.Sub(p.drawn) >= RedrawInterval {
			p.draw(now)
		}
		return
	}
	if p.drawn.IsZero() || now.Sub(p.drawn) >= p.interval {
		p.logLine(now)
	}
}

// measure fills in the rate and the time left when the caller did not.
func (p *Printer) measure(u *Update, now time.Time) {
	if u.Rate <= 0 {
		if secs := now.Sub(p.started).Seconds(); secs >= 0.5 && u.Bytes > p.base {
			u.Rate = float64(u.Bytes-p.base) / secs
		}
	}
	if u.ETA <= 0 && u.Rate > 0 && u.Total > u.Bytes {
		u.ETA = time.Duration(float64(u.Total-u.Bytes) / u.Rate * float64(time.Second))
	}
}

// End ends the current phase: a bar is drawn once more in its final state
// and the line ended; in log mode a last line is written if the phase moved
// since the previous one.
func (p *Printer) End() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endLocked()
}

func (p *Printer) endLocked() {
	if !p.active {
		return
	}
	if p.tty {
		p.draw(p.now())
		fmt.Fprint(p.w, "\n")
		p.visible = false
	} else if p.cur.Bytes != p.lastLogged {
		p.logLine(p.now())
	}
	p.active = false
}

// Println writes a message on its own line; on a terminal the bar is
// cleared first and drawn again below the message.
func (p *Printer) Println(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.visible {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	fmt.Fprintln(p.w, msg)
	if p.visible {
		p.draw(p.now())
	}
}

// draw redraws the bar: carriage return, the line, erase to the end of the
// line (a shorter line leaves nothing of the longer one behind).
func (p *Printer) draw(now time.Time) {
	w := 80
	if p.width != nil {
		if n := p.width(); n > 0 {
			w = n
		}
	}
	fmt.Fprint(p.w, "\r"+Bar(p.cur, w)+"\x1b[K")
	p.drawn, p.visible = now, true
}

func (p *Printer) logLine(now time.Time) {
	fmt.Fprintln(p.w, Line(p.cur))
	p.drawn, p.lastLogged = now, p.cur.Bytes
}

// TerminalWidth returns f's width in columns; without a terminal size, the
// COLUMNS environment variable, else 80.
func TerminalWidth(f *os.File) int {
	if n := terminalWidth(f); n > 0 {
		return n
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 80
}
