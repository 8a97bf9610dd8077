package events

import (
	"time"
)

// Boot is one boot of one machine as the Log has pieced it together.
type Boot struct {
	Number   int         `json:"number"` // 1 for the first boot seen since rackboot started
	MAC      string      `json:"mac"`
	Started  time.Time   `json:"started"`
	Updated  time.Time   `json:"updated"`
	Stage    Stage       `json:"stage"` // the furthest stage reached
	Stages   []StageTime `json:"stages"`
	Progress *Progress   `json:"progress,omitempty"` // the download under way, if any
	Arch     string      `json:"arch,omitempty"`
	IP       string      `json:"ip,omitempty"`
	Item     string      `json:"item,omitempty"`   // the menu's default item
	Kernel   string      `json:"kernel,omitempty"` // the path of the kernel fetched
	Bytes    int64       `json:"bytes"`            // file bytes sent to the machine in this boot
	Finished bool        `json:"finished"`
	Result   string      `json:"result,omitempty"` // "booted kernel", "OS up", "OS silent", "abandoned"
	// UpAfterMS is the time from power-on (or from the boot's first
	// event, when rackboot did not power it on) to the OS being up.
	UpAfterMS float64 `json:"up_after_ms,omitempty"`
	Err       string  `json:"error,omitempty"` // the last failure

	kernelDone bool
	pending    map[string]bool // files the kernel still needs
	fetched    map[string]bool // archives and hashes fetched before the kernel (another server's may arrive first)
}

// StageTime is one stage of a boot. A stage's duration runs from the end of
// the stage before it (or from its own first event, for the first stage) to
// its own last event: "kernel 2.1s" is the time from the menu to the
// kernel's last byte.
type StageTime struct {
	Stage      Stage     `json:"stage"`
	Start      time.Time `json:"start"` // its first event
	End        time.Time `json:"end"`   // its last event
	DurationMS float64   `json:"duration_ms"`
}

// Progress is a download under way.
type Progress struct {
	File    string    `json:"file"`
	Kind    string    `json:"kind"`
	Bytes   int64     `json:"bytes"`
	Total   int64     `json:"total"` // 0 if unknown
	Started time.Time `json:"started"`
	Updated time.Time `json:"updated"`
}

// Duration is how long the boot has taken so far.
func (b Boot) Duration() time.Duration { return b.Updated.Sub(b.Started) }

// Slowest returns the stage that took longest, and how long.
func (b Boot) Slowest() (Stage, time.Duration) {
	var (
		st  Stage
		max float64 = -1
	)
	for _, s := range b.Stages {
		if s.DurationMS > max {
			st, max = s.Stage, s.DurationMS
		}
	}
	if max < 0 {
		return StageNone, 0
	}
	return st, time.Duration(max * float64(time.Millisecond))
}

// clone copies b for callers outside the Log's lock.
func (b *Boot) clone() Boot {
	c := *b
	c.Stages = append([]StageTime(nil), b.Stages...)
	if b.Progress != nil {
		p := *b.Progress
		c.Progress = &p
	}
	c.pending, c.fetched = nil, nil
	return c
}

// startsNewBoot says whether ev begins a new boot of a machine whose current
// boot is cur (nil: none yet).
func startsNewBoot(cur *Boot, ev Event, now time.Time, stale time.Duration) bool {
	switch ev.Type {
	case TypeUp, TypeSilent:
		return cur == nil // a callback belongs to the boot before it
	case TypePower:
		return true // the machine restarts, whatever it was doing
	}
	if cur == nil {
		return true
	}
	if ev.Type != TypeDHCP {
		return cur.Finished && (ev.Type == TypeTFTP || ev.Type == TypeMenu)
	}
	if cur.Finished || now.Sub(cur.Updated) > stale {
		return true
	}
	if ev.IPXE {
		// iPXE's DHCP follows the PXE ROM's in the same boot; after the
		// menu it means the machine started over.
		return cur.Stage.Index() >= StageMenu.Index()
	}
	// A PXE ROM's DHCP retries stay in the boot they began, and its first
	// DHCP joins the power-on that began the boot.
	return cur.Stage != StageDHCP && cur.Stage != StagePowerOn
}

// stageOf is the stage an event belongs to, or StageNone for one that
// moves no boot forward (a failed download, another file).
func stageOf(ev Event) Stage {
	switch ev.Type {
	case TypeDHCP:
		if ev.IPXE {
			return StageIPXEDHCP
		}
		return StageDHCP
	case TypeTFTP:
		switch {
		case ev.Failed():
		case ev.Kind == KindNBP:
			return StageNBP
		case ev.Kind == KindKernel:
			// A Secure Boot machine's GRUB loads its kernel over TFTP.
			return StageKernel
		case ev.Kind == KindArchive:
			return StageArchive
		}
	case TypeMenu:
		return StageMenu
	case TypeHTTP:
		if ev.Failed() {
			return StageNone
		}
		switch ev.Kind {
		case KindKernel:
			return StageKernel
		case KindArchive, KindHash:
			return StageArchive
		case KindMenu:
			return StageMenu
		}
	case TypeBooted:
		return StageBootedKernel
	case TypeUp:
		return StageUp
	case TypePower:
		return StagePowerOn
	}
	return StageNone
}

// advance records that the boot reached st at t. Stages only move forward;
// an event of the current stage extends it.
func (b *Boot) advance(st Stage, t time.Time) {
	if st == StageNone {
		return
	}
	n := len(b.Stages)
	switch {
	case n > 0 && b.Stages[n-1].Stage == st:
		b.Stages[n-1].End = t
	case st.Index() > b.Stage.Index():
		b.Stages = append(b.Stages, StageTime{Stage: st, Start: t, End: t})
		b.Stage = st
	default:
		return
	}
	n = len(b.Stages)
	from := b.Stages[n-1].Start
	if n > 1 {
		from = b.Stages[n-2].End
	}
	b.Stages[n-1].DurationMS = Millis(b.Stages[n-1].End.Sub(from))
}

// place is advance for a late event (another server's, arrived after
// later ones): a stage beyond the furthest advances the boot; a stage the
// boot has widens to take t in; a stage the boot went without is put in
// its place in stage order. Times are kept within their neighbours' (a
// late stage cannot end after the next one began, a clock a little ahead
// cannot make a duration negative), and every duration is computed again.
func (b *Boot) place(st Stage, t time.Time) {
	if st == StageNone {
		return
	}
	i := 0
	for i < len(b.Stages) && b.Stages[i].Stage.Index() < st.Index() {
		i++
	}
	if i == len(b.Stages) {
		b.Stages = append(b.Stages, StageTime{Stage: st, Start: t, End: t})
		b.Stage = st
	} else if b.Stages[i].Stage != st {
		b.Stages = append(b.Stages[:i], append([]StageTime{{Stage: st, Start: t, End: t}}, b.Stages[i:]...)...)
	} else {
		if t.Before(b.Stages[i].Start) {
			b.Stages[i].Start = t
		}
		if t.After(b.Stages[i].End) {
			b.Stages[i].End = t
		}
	}
	s := &b.Stages[i]
	if i > 0 {
		lo := b.Stages[i-1].End
		if s.Start.Before(lo) {
			s.Start = lo
		}
		if s.End.Before(lo) {
			s.End = lo
		}
	}
	if i+1 < len(b.Stages) {
		hi := b.Stages[i+1].Start
		if s.End.After(hi) {
			s.End = hi
		}
		if s.Start.After(s.End) {
			s.Start = s.End
		}
	}
	for j := range b.Stages {
		from := b.Stages[j].Start
		if j > 0 {
			from = b.Stages[j-1].End
		}
		b.Stages[j].DurationMS = Millis(b.Stages[j].End.Sub(from))
	}
}

// fits says whether a late event belongs to b: it happened after b began
// (give or take the clocks' skew), or shortly before as b's beginning (a
// stage before b's first, within stale: the PXE ROM's DHCP seen by another
// server arriving after this server's iPXE DHCP). Otherwise it is from an
// earlier boot.
func (b *Boot) fits(ev Event, skew, stale time.Duration) bool {
	if !ev.Time.Before(b.Started.Add(-skew)) {
		return true
	}
	if b.Started.Sub(ev.Time) > stale {
		return false
	}
	st := stageOf(ev)
	return st != StageNone && len(b.Stages) > 0 && st.Index() < b.Stages[0].Stage.Index()
}

// apply folds ev (whose Stage is set) into b. It returns true when the
// boot now has every file its kernel needs: the caller emits "booted".
// late (another server's event, arrived after later ones) neither moves
// the boot's times back nor replaces newer details.
func (b *Boot) apply(ev Event, late bool) (booted bool) {
	switch {
	case !late || ev.Time.After(b.Updated):
		b.Updated = ev.Time
	case ev.Time.Before(b.Started):
		b.Started = ev.Time
	}
	if ev.Arch != "" && (!late || b.Arch == "") {
		b.Arch = ev.Arch
	}
	if ev.IP != "" && (!late || b.IP == "") {
		b.IP = ev.IP
	}
	if ev.Failed() && (!late || b.Err == "") {
		b.Err = ev.Msg
	}
	switch ev.Type {
	case TypeProgress:
		if b.Progress == nil || b.Progress.File != ev.File {
			b.Progress = &Progress{File: ev.File, Kind: ev.Kind, Started: ev.Time}
		}
		b.Progress.Bytes, b.Progress.Total, b.Progress.Updated = ev.Bytes, ev.Total, ev.Time
		return false
	case TypeMenu:
		b.Item = ev.Item
	case TypeHTTP, TypeTFTP:
		b.Bytes += ev.Bytes
		if b.Progress != nil && b.Progress.File == ev.File {
			b.Progress = nil
		}
	}
	if late {
		b.place(ev.Stage, ev.Time)
	} else {
		b.advance(ev.Stage, ev.Time)
	}
	if (ev.Type != TypeHTTP && ev.Type != TypeTFTP) || ev.Failed() || (ev.Total > 0 && ev.Bytes < ev.Total) {
		return false
	}
	switch ev.Kind {
	case KindKernel:
		b.Kernel = ev.File
		b.kernelDone = true
		b.pending = map[string]bool{}
		for _, f := range ev.Needs {
			if !b.fetched[f] {
				b.pending[f] = true
			}
		}
		b.fetched = nil
	case KindArchive, KindHash, KindOther:
		delete(b.pending, ev.File)
		if !b.kernelDone && ev.Kind != KindOther { // other files: many, and no kernel needs them
			if b.fetched == nil {
				b.fetched = map[string]bool{}
			}
			b.fetched[ev.File] = true
		}
	default:
		return false
	}
	return b.kernelDone && len(b.pending) == 0 && !b.Finished
}

// upAfter is the time from the boot's power-on (its first event when
// rackboot did not power it on) to t.
func (b *Boot) upAfter(t time.Time) time.Duration {
	from := b.Started
	if len(b.Stages) > 0 && b.Stages[0].Stage == StagePowerOn {
		from = b.Stages[0].Start
	}
	return t.Sub(from)
}

// UpCandidate reports whether the OS may be seen up by its own DHCP: the
// boot got as far as the kernel and is neither up nor abandoned.
func (b Boot) UpCandidate() bool {
	return b.Stage.Index() >= StageKernel.Index() && b.Stage != StageUp && b.Result != "abandoned"
}

// finish marks the boot over.
func (b *Boot) finish(result string) {
	b.Finished = true
	b.Result = result
	b.Progress = nil
}
