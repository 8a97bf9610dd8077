package textview

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"rackboot/internal/api"
	"rackboot/internal/progress"
	"rackboot/internal/smartos"
)

// timeFormat is how the platform list shows times, in local time.
const timeFormat = "2006-01-02 15:04"

// Platforms writes the platforms as a table, one a line, with a hint when
// there are none or none is the default.
func Platforms(w io.Writer, list []api.Platform) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no platforms yet: 'rackboot platform import latest' brings in the newest SmartOS")
		return err
	}
	shared := false // several servers: say where each build is
	for _, p := range list {
		shared = shared || len(p.Servers) > 0
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "BUILD\tSIZE\tIMPORTED\tCHECKSUM\tDEFAULT\tPINNED\tBOOTS (7d)"
	if shared {
		head += "\tWHERE"
	}
	fmt.Fprintln(tw, head)
	hasDefault := false
	for _, p := range list {
		hasDefault = hasDefault || p.Default
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d", p.Build, platformSize(p.Size), p.ImportedAt.Local().Format(timeFormat),
			shortSum(p.SHA256, p.MD5), yesOrDash(p.Default), yesOrDash(p.Pinned), p.Boots)
		if shared {
			fmt.Fprintf(tw, "\t%s", where(p))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !hasDefault {
		_, err := fmt.Fprintln(w, "no default set: the menu boots the newest build ('rackboot platform default BUILD' picks one)")
		return err
	}
	return nil
}

// Platform writes one platform as "Field: value" lines.
func Platform(w io.Writer, p api.Platform) error {
	pw := p.RootPassword
	if pw == "" {
		pw = "not published for this build (a noimport boot then needs smartos.root_password)"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	for _, l := range [][2]string{
		{"Build", p.Build},
		{"Source", p.Source},
		{"Imported", p.ImportedAt.Local().Format(time.RFC1123)},
		{"Size", platformSize(p.Size)},
		{"SHA-256", orDash(p.SHA256)},
		{"MD5", orDash(p.MD5)},
		{"Default", yesOrDash(p.Default)},
		{"Pinned", yesOrDash(p.Pinned)},
		{"Boots (7d)", strconv.Itoa(p.Boots)},
		{"Manifest", manifestLine(p.Manifest)},
		{"Where", where(p)},
		{"Rescue root password", pw},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", l[0], l[1])
	}
	return tw.Flush()
}

// platformSize is n bytes for people, "-" when unknown.
func platformSize(n int64) string {
	if n <= 0 {
		return "-"
	}
	return progress.Bytes(n)
}

// shortSum is the first 12 hex digits of the strongest checksum known.
func shortSum(sha256, md5 string) string {
	switch {
	case len(sha256) >= 12:
		return "sha256:" + sha256[:12]
	case len(md5) >= 12:
		return "md5:" + md5[:12]
	}
	return "-"
}

// where says on which servers a build is, from their status records:
// "present on a, b; fetching on c 40 %; failed on d (error)".
func where(p api.Platform) string {
	if len(p.Servers) == 0 {
		return "-"
	}
	var parts []string
	byState := map[string][]string{}
	var order []string
	for _, s := range p.Servers {
		if p.Manifest != nil && s.State == smartos.SyncPresent && s.Manifest != "" && s.Manifest != p.Manifest.SHA256 {
			s.State = "outdated" // an older copy, before a forced re-import
		}
		name := s.Server
		switch s.State {
		case smartos.SyncFetching:
			if s.Total > 0 {
				name += fmt.Sprintf(" %d %%", s.Bytes*100/s.Total)
			}
			if s.Peer != "" {
				name += " from " + s.Peer
			}
		case smartos.SyncFailed, smartos.SyncWaiting:
			if s.Error != "" {
				name += " (" + s.Error + ")"
			}
		}
		if _, ok := byState[s.State]; !ok {
			order = append(order, s.State)
		}
		byState[s.State] = append(byState[s.State], name)
	}
	for _, st := range order {
		parts = append(parts, st+" on "+strings.Join(byState[st], ", "))
	}
	return strings.Join(parts, "; ")
}

// manifestLine is a manifest's hash, file count and size, "-" when there is none.
func manifestLine(m *api.ManifestSummary) string {
	if m == nil {
		return "-"
	}
	return fmt.Sprintf("sha256:%s, %d files, %s", m.SHA256, m.Files, progress.Bytes(m.Bytes))
}
