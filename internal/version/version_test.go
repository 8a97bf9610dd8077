package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// The linker's values win; the build stamp fills only what is missing.
func TestFillFromBuildInfo(t *testing.T) {
	save := func() func() {
		v, c, d := Version, Commit, Date
		return func() { Version, Commit, Date = v, c, d }
	}
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261206074500-876d8db1a2b3+dirty"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "876d8db1a2b3c4d5e6f7"},
			{Key: "vcs.time", Value: "2026-12-06T07:45:00Z"}, {Key: "vcs.modified", Value: "true"}}}

	defer save()()
	Version, Commit, Date = "dev", "", ""
	fillFromBuildInfo(bi)
	if Version != bi.Main.Version || Commit != "876d8db1a2b3-dirty" || Date != "2026-12-06T07:45:00Z" {
		t.Errorf("from the build stamp: got %q %q %q", Version, Commit, Date)
	}

	Version, Commit, Date = "1.2.0", "abc1234", "2026-12-01T00:00:00Z"
	fillFromBuildInfo(bi)
	if Version != "1.2.0" || Commit != "abc1234" || Date != "2026-12-01T00:00:00Z" {
		t.Errorf("set at link time, then overwritten: got %q %q %q", Version, Commit, Date)
	}

	Version, Commit, Date = "dev", "", ""
	fillFromBuildInfo(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}})
	if Version != "dev" || Commit != "" || Date != "" {
		t.Errorf("no stamp: got %q %q %q", Version, Commit, Date)
	}
	i := Get()
	if i.Commit != "unknown" || i.Date != "unknown" || i.GoVersion != runtime.Version() {
		t.Errorf("Get without a stamp: %+v", i)
	}
	for _, want := range []string{"rackboot dev", "commit:     unknown", runtime.Version()} {
		if !strings.Contains(i.String(), want) {
			t.Errorf("String() lacks %q:\n%s", want, i.String())
		}
	}
}
