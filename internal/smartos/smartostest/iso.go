package smartostest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// ISOTools are the programs ISO can make images with: smartos-live has
// built its ISOs with both mkisofs (genisoimage is Debian's) and xorriso.
var ISOTools = []string{"genisoimage", "xorriso"}

// ToolsRequiredEnv, when set, makes a missing ISO tool fail a test instead
// of skipping it (make unit sets it; make deps-test installs the tools).
const ToolsRequiredEnv = "RACKBOOT_ISO_TOOLS_REQUIRED"

// Tree writes the platform's Files below dir/platform/, with an empty
// boot/ beside it: the layout of a SmartOS ISO's root. It returns dir.
func Tree(tb testing.TB, dir, build string, archiveSize int) string {
	tb.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "boot"), 0o755); err != nil {
		tb.Fatal(err)
	}
	for _, f := range Files(build, archiveSize) {
		p := filepath.Join(dir, "platform", filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, f.Body, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// RequireTool skips the test when tool is not installed, or fails it when
// ToolsRequiredEnv is set.
func RequireTool(tb testing.TB, tool string) {
	tb.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		if os.Getenv(ToolsRequiredEnv) != "" {
			tb.Fatalf("%s is not installed (make deps-test installs it)", tool)
		}
		tb.Skipf("%s is not installed (make deps-test installs it)", tool)
	}
}

// MakeISO writes an ISO 9660 image of the tree in dir to out with tool
// (one of ISOTools), with Rock Ridge names (-R; genisoimage adds Joliet,
// -J) and volume id volID, as smartos-live's ISOs are made.
func MakeISO(tb testing.TB, tool, dir, volID, out string) string {
	tb.Helper()
	RequireTool(tb, tool)
	var args []string
	switch tool {
	case "genisoimage":
		args = []string{"-quiet", "-R", "-J"}
	case "xorriso":
		args = []string{"-as", "mkisofs", "-quiet", "-R"}
	default:
		tb.Fatalf("unknown ISO tool %q", tool)
	}
	args = append(args, "-V", volID, "-o", out, dir)
	if b, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		tb.Fatalf("%s %v: %v\n%s", tool, args, err, b)
	}
	return out
}

// ISO returns the path of smartos-<build>.iso, made with tool in a new
// temporary directory from Tree(build, archiveSize).
func ISO(tb testing.TB, tool, build string, archiveSize int) string {
	tb.Helper()
	dir := Tree(tb, tb.TempDir(), build, archiveSize)
	return MakeISO(tb, tool, dir, "SmartOS", filepath.Join(tb.TempDir(), "smartos-"+build+".iso"))
}
