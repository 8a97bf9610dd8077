package e2e_test

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"rackboot/test/e2e"
)

// The rackboot binary under test, built once by TestMain.
var (
	rackbootBin string
	rackbootErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "rbe2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if testing.Short() {
		rackbootErr = fmt.Errorf("not built with -short")
	} else {
		rackbootBin, rackbootErr = e2e.BuildRackboot(dir)
	}
	code := m.Run()
	os.RemoveAll(dir)
	e2e.CleanupTestKernel()
	os.Exit(code)
}

// needRackboot returns the binary under test or fails t.
func needRackboot(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the rackboot binary, which -short does not build")
	}
	if rackbootErr != nil {
		t.Fatalf("rackboot binary not available: %v", rackbootErr)
	}
	return rackbootBin
}
