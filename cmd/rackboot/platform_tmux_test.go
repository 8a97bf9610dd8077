package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"rackboot/internal/smartos/smartostest"
)

// tmuxSession is a terminal the test can read: a tmux server of its own
// (its own socket), one window of a known size.
type tmuxSession struct {
	t      *testing.T
	socket string
}

func newTmux(t *testing.T, width, height int, command string) *tmuxSession {
	t.Helper()
	s := &tmuxSession{t: t, socket: fmt.Sprintf("rbtest-%d-%d", os.Getpid(), time.Now().UnixNano())}
	t.Cleanup(func() { exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	s.run("-f", "/dev/null", "new-session", "-d", "-s", "rb", "-x", strconv.Itoa(width), "-y", strconv.Itoa(height), command)
	return s
}

func (s *tmuxSession) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// screen is what the terminal shows now, lines wrapped by the terminal
// joined again.
func (s *tmuxSession) screen() string { return s.run("capture-pane", "-p", "-J", "-t", "rb") }

// waitFor polls the screen until ok says yes, and returns that screen.
func (s *tmuxSession) waitFor(what string, d time.Duration, ok func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		if last = s.screen(); ok(last) {
			return last
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("terminal never showed %s; last screen:\n%s", what, last)
	return ""
}

var barLine = regexp.MustCompile(`download platform-\d{8}T\d{6}Z\.tgz \[(=*)>? *\] +(\d+)%  [0-9.]+ [KM]iB/[0-9.]+ MiB`)

// The progress bar as a user sees it: the real binary in a real terminal
// (tmux), importing from a slow mirror. The bar is redrawn in place (one
// line, its percentage growing), fits the window, and ends at 100%; Ctrl-C
// stops an import, and the next one resumes and completes it.
func TestProgressBarInTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it in tmux")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (apt-get install tmux)")
	}
	bin := filepath.Join(t.TempDir(), "rackboot")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	m := smartostest.NewMirror(t)
	url, _ := m.Add(t, buildNew, 6<<20)
	m.SetRate(2 << 20) // about 3 s
	dataDir := t.TempDir()
	const width = 100
	cmd := fmt.Sprintf("%s platform import %s --data-dir %s; echo EXIT=$?; sleep 600", bin, url, dataDir)
	term := newTmux(t, width, 10, cmd)

	var seen []int
	mid := term.waitFor("the bar part way", 30*time.Second, func(screen string) bool {
		if m := barLine.FindStringSubmatch(screen); m != nil {
			pct, _ := strconv.Atoi(m[2])
			if len(seen) == 0 || seen[len(seen)-1] != pct {
				seen = append(seen, pct)
			}
			return pct >= 30 && pct < 100
		}
		return false
	})
	t.Logf("terminal during the download:\n%s", mid)
	if n := strings.Count(mid, "download platform-"); n != 1 {
		t.Errorf("%d download lines on the screen: the bar must redraw in place", n)
	}
	for _, line := range strings.Split(mid, "\n") {
		if strings.HasPrefix(line, "download ") && len(line) >= width {
			t.Errorf("line of %d columns in a %d-column terminal: %q", len(line), width, line)
		}
	}
	if !regexp.MustCompile(`MiB/s  ETA \d+s`).MatchString(mid) {
		t.Errorf("no rate and time left on the bar:\n%s", mid)
	}
	done := term.waitFor("the end of the import", 30*time.Second, func(s string) bool { return strings.Contains(s, "EXIT=") })
	t.Logf("terminal at the end:\n%s", done)
	if !strings.Contains(done, "EXIT=0") || !strings.Contains(done, "imported "+buildNew) ||
		!regexp.MustCompile(`download platform-\S+ \[=+\] 100%`).MatchString(done) {
		t.Errorf("the import did not end with a full bar and its result")
	}
	if len(seen) < 3 {
		t.Errorf("percentages seen: %v; want the bar to move", seen)
	}

	// Ctrl-C part way, then the same import again resumes.
	url2, _ := m.Add(t, buildOld, 6<<20)
	cmd = fmt.Sprintf("%s platform import %s --data-dir %s; echo EXIT=$?; %s platform import %s --data-dir %s; echo EXIT2=$?; sleep 600",
		bin, url2, dataDir, bin, url2, dataDir)
	term = newTmux(t, width, 12, cmd)
	term.waitFor("the bar part way", 30*time.Second, func(screen string) bool {
		m := barLine.FindStringSubmatch(screen)
		pct := -1
		if m != nil {
			pct, _ = strconv.Atoi(m[2])
		}
		return pct >= 20 && pct < 80
	})
	m.SetRate(0) // the resumed download goes at full speed
	term.run("send-keys", "-t", "rb", "C-c")
	end := term.waitFor("the second import's end", 30*time.Second, func(s string) bool { return strings.Contains(s, "EXIT2=") })
	t.Logf("terminal after Ctrl-C and a second import:\n%s", end)
	if !strings.Contains(end, "stopped; a partial download is kept") || !strings.Contains(end, "EXIT=1") ||
		!strings.Contains(end, "imported "+buildOld) || !strings.Contains(end, "EXIT2=0") {
		t.Errorf("Ctrl-C then resume: unexpected terminal")
	}
}
