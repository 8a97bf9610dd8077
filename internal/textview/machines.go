package textview

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"rackboot/internal/api"
	"rackboot/internal/events"
)

// Machines writes the machines as a table, one a line.
func Machines(w io.Writer, list []api.MachineView) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MAC\tNAME\tARCH\tIP\tSTAGE\tLAST BOOT\tDEFAULT\tBOOT-ONCE")
	for _, m := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.MAC, orDash(m.Name), orDash(m.Arch), orDash(m.LastIP),
			stageText(m), lastBoot(m), orDash(m.Effective.Default), orDash(m.BootOnce))
	}
	return tw.Flush()
}

// stageText is a machine's live stage, with download progress.
func stageText(m api.MachineView) string {
	b := m.Boot
	if b == nil {
		return "-"
	}
	s := b.Stage.Label()
	switch {
	case b.Progress != nil && b.Progress.Total > 0:
		s += fmt.Sprintf(" (%s %d%%)", b.Progress.Kind, b.Progress.Bytes*100/b.Progress.Total)
	case !b.Finished:
		s += "…"
	}
	return s
}

// lastBoot is when the live boot, else the last kept one, started and how
// long it took.
func lastBoot(m api.MachineView) string {
	if b := m.Boot; b != nil {
		return fmt.Sprintf("%s ago, %s", ago(b.Started), b.Duration().Round(100*time.Millisecond))
	}
	if n := len(m.Boots); n > 0 {
		b := m.Boots[n-1]
		return fmt.Sprintf("%s ago, %s", ago(b.Started), time.Duration(b.DurationMS*float64(time.Millisecond)).Round(100*time.Millisecond))
	}
	return "-"
}

// ago is how long ago t was, to the second, minute or hour.
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Minute).String()
	}
	return d.Round(time.Hour).String()
}

// Machine writes one machine: its settings as "field value" lines, then its
// kept boots and its timeline evs.
func Machine(w io.Writer, m api.MachineView, evs []events.Event) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, orDash(v)) }
	row("MAC", m.MAC)
	row("name", m.Name)
	var labels []string
	for k, v := range m.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	row("labels", strings.Join(labels, " "))
	row("firmware", m.Arch)
	row("UUID", m.UUID)
	row("vendor class", m.VendorClass)
	row("last IP", m.LastIP)
	e := m.Effective
	row("rules", strings.Join(e.Rules, ", "))
	row("default", e.Default)
	row("boot-once", m.BootOnce)
	var args []string
	for _, kv := range e.BootArgs {
		args = append(args, kv.Key+"="+kv.Value)
	}
	row("boot args", strings.Join(args, ","))
	if e.RootShadow != "" {
		row("root_shadow", e.RootShadow)
	}
	if e.SecureBoot != nil {
		row("secure boot", fmt.Sprint(*e.SecureBoot))
	}
	if e.SkipMenu != nil {
		row("skip menu", fmt.Sprint(*e.SkipMenu))
	}
	row("stage", stageText(m))
	tw.Flush()
	if len(m.Boots) > 0 {
		fmt.Fprintln(w, "\nBoots (kept in the store):")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  STARTED\tTOOK\tRESULT\tITEM\tSLOWEST STAGE")
		for _, b := range m.Boots {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s %s\n", b.Started.Local().Format("2006-01-02 15:04:05"),
				time.Duration(b.DurationMS*float64(time.Millisecond)).Round(100*time.Millisecond), b.Result, orDash(b.Item),
				orDash(b.Slowest), time.Duration(b.Stages[b.Slowest]*float64(time.Millisecond)).Round(time.Millisecond))
		}
		tw.Flush()
	}
	if len(evs) > 0 {
		fmt.Fprintln(w, "\nTimeline (since rackboot started):")
		for _, ev := range evs {
			fmt.Fprintln(w, "  "+Event(ev, false))
		}
	}
}

// Event is one event as the CLI prints it, as one line; withMAC puts the
// machine's MAC after the time (a timeline of every machine).
func Event(ev events.Event, withMAC bool) string {
	var b strings.Builder
	b.WriteString(ev.Time.Local().Format("15:04:05.000"))
	if withMAC {
		mac := ev.MAC
		if mac == "" {
			mac = "?"
		}
		fmt.Fprintf(&b, " %-17s", mac)
	}
	if ev.Boot > 0 {
		fmt.Fprintf(&b, " #%d", ev.Boot)
	}
	st := "-"
	if ev.Stage != "" {
		st = ev.Stage.Label()
	}
	fmt.Fprintf(&b, " %-14s %s", st, ev.Msg)
	if s := ev.Summary; s != nil {
		slow, took := s.Slowest()
		fmt.Fprintf(&b, " [boot %s in %s, slowest: %s %s]", s.Result, s.Duration().Round(100*time.Millisecond),
			slow.Label(), took.Round(time.Millisecond))
	}
	return b.String()
}

// DefaultItem names what the machine boots when nothing is chosen for it.
func DefaultItem(m api.MachineView) string {
	if m.Effective.Default != "" {
		return m.Effective.Default
	}
	return "the configured default"
}
