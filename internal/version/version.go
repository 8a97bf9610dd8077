// Package version is what this rackboot binary is: its version, the commit
// it was built from, the Go that built it and when. The Makefile and the
// package build set them at link time:
//
//	go build -ldflags "-X rackboot/internal/version.Version=1.2.0 \
//	    -X rackboot/internal/version.Commit=876d8db -X rackboot/internal/version.Date=2026-12-06T07:50:00Z"
//
// A plain `go build` or `go install` sets none of them; the version control
// stamp Go records in the binary (runtime/debug.ReadBuildInfo, vcs.*) fills
// in what it can, so a bug report always names a commit.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time (-X). Version is "dev" unless the build sets it.
var (
	Version = "dev"
	Commit  = ""
	Date    = "" // RFC 3339, UTC
)

// dirtySuffix marks a commit built with uncommitted changes.
const dirtySuffix = "-dirty"

func init() {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	fillFromBuildInfo(bi)
}

// fillFromBuildInfo sets what the linker did not from Go's build stamp:
// the module version (a pseudo-version for a VCS build, e.g.
// v0.0.0-20261206074500-876d8db1a2b3+dirty), the revision and its time.
func fillFromBuildInfo(bi *debug.BuildInfo) {
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		Version = bi.Main.Version
	}
	if Commit == "" && settings["vcs.revision"] != "" {
		Commit = settings["vcs.revision"]
		if len(Commit) > 12 {
			Commit = Commit[:12]
		}
		if settings["vcs.modified"] == "true" {
			Commit += dirtySuffix
		}
	}
	if Date == "" {
		Date = settings["vcs.time"] // the commit's time: the best a plain go build knows
	}
}

// Info is the whole of it, for `rackboot version` and the start-up log.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
	Date      string `json:"build_date"`
	Platform  string `json:"platform"` // GOOS/GOARCH
}

// Get is this binary's Info; unknown fields say "unknown".
func Get() Info {
	or := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	return Info{Version: Version, Commit: or(Commit), GoVersion: runtime.Version(), Date: or(Date),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

// String is Info as `rackboot version` prints it.
func (i Info) String() string {
	return fmt.Sprintf("rackboot %s\n  commit:     %s\n  go:         %s\n  built:      %s\n  platform:   %s\n",
		i.Version, i.Commit, i.GoVersion, i.Date, i.Platform)
}
