package smartos

import (
	"context"
	"sync"
	"testing"
)

// Two imports on one Importer, each with its own WithProgress func, see
// only their own events; Importer.Progress sees both.
func TestWithProgressPerImport(t *testing.T) {
	im, _ := newTestImporter(t)
	m := newMirror(t)
	urlA := m.addBuild(t, buildA, tarball(t, platformEntries(buildA, 1<<20, 1)))
	urlB := m.addBuild(t, buildB, tarball(t, platformEntries(buildB, 1<<20, 2)))
	var mu sync.Mutex
	all := map[string]int{}
	im.Progress = func(ev ProgressEvent) { mu.Lock(); all[ev.Build]++; mu.Unlock() }

	var wg sync.WaitGroup
	own := map[string][]ProgressEvent{}
	for build, u := range map[string]string{buildA: urlA, buildB: urlB} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var evs []ProgressEvent
			ctx := WithProgress(context.Background(), func(ev ProgressEvent) { evs = append(evs, ev) })
			if _, err := im.Import(ctx, u, ImportOptions{}); err != nil {
				t.Error(err)
			}
			mu.Lock()
			own[build] = evs
			mu.Unlock()
		}()
	}
	wg.Wait()
	for build, evs := range own {
		if len(evs) == 0 || evs[len(evs)-1].Phase != "done" {
			t.Fatalf("%s: events %+v", build, evs)
		}
		phases := map[string]bool{}
		for _, ev := range evs {
			phases[ev.Phase] = true
			if ev.Build != "" && ev.Build != build {
				t.Errorf("%s got an event of %s: %+v", build, ev.Build, ev)
			}
		}
		for _, p := range []string{"download", "verify", "unpack", "install", "done"} {
			if !phases[p] {
				t.Errorf("%s: no %s event", build, p)
			}
		}
		if all[build] < len(evs) {
			t.Errorf("Importer.Progress saw %d events of %s, the import's own func %d", all[build], build, len(evs))
		}
	}
}
