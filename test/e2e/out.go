//go:build linux

package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OutRootEnv overrides where test output (logs, serial consoles, generated
// files) goes. Default: the package's out/ directory, which git ignores and
// which survives the run so a failure can be looked at afterwards.
const OutRootEnv = "RACKBOOT_E2E_OUT"

// OutDir returns an empty directory for t's output, out/<test name>/,
// emptied first if a previous run left it.
func OutDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv(OutRootEnv)
	if root == "" {
		root = filepath.Join(packageDir(), "out")
	}
	name := strings.NewReplacer("/", "_", " ", "_", ":", "_").Replace(t.Name())
	dir := filepath.Join(root, name)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("clear output directory: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create output directory: %v", err)
	}
	return dir
}

// logTail returns at most the last max bytes of a log file, cut at a line
// start, for printing when a test fails.
func logTail(path string, max int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
		b = append([]byte("[…earlier output cut…]\n"), b...)
	}
	return string(b)
}

// dumpLog prints a log file's tail into the test log; serial consoles are
// turned into plain text first.
func dumpLog(t testing.TB, name, path string, serial bool) {
	t.Helper()
	tail := logTail(path, 16<<10)
	if serial {
		tail = ScreenText([]byte(logTail(path, 64<<10)))
		if len(tail) > 16<<10 {
			tail = tail[len(tail)-16<<10:]
		}
	}
	t.Logf("──── %s (%s) ────\n%s\n──── end of %s ────", name, path, tail, name)
}
