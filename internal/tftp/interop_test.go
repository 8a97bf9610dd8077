package tftp

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"testing/fstest"
)

// TestInterop fetches files with real TFTP clients, when they are installed:
// busybox tftp (tsize, blksize), curl (tsize, blksize, timeout, or no
// options), tftp-hpa (no options) and atftp (windowsize).
func TestInterop(t *testing.T) {
	sizes := []int{0, 1, 511, 512, 1468 * 3, 300_001}
	files := fstest.MapFS{}
	for _, n := range sizes {
		files["dir/f"+strconv.Itoa(n)] = &fstest.MapFile{Data: pattern(n)}
	}
	ts := startServer(t, &Server{Root: files})
	port := strconv.Itoa(int(ts.addr.Port()))
	for _, cl := range interopClients(port) {
		t.Run(cl.name, func(t *testing.T) {
			tool, err := exec.LookPath(cl.tool)
			if err != nil {
				t.Skipf("%s not installed", cl.tool)
			}
			// Another program may have the same name (netkit's tftp): ask.
			if probe, ok := interopProbes[cl.tool]; ok {
				out, _ := exec.Command(tool, probe[0]).CombinedOutput()
				if !bytes.Contains(out, []byte(probe[1])) {
					t.Skipf("%s is not the client this test knows", tool)
				}
			}
			for _, n := range sizes {
				if n == 0 && cl.skipEmpty {
					continue
				}
				file := "dir/f" + strconv.Itoa(n)
				out := filepath.Join(t.TempDir(), "out")
				ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
				b, err := exec.CommandContext(ctx, tool, cl.args(file, out)...).CombinedOutput()
				cancel()
				if err != nil {
					t.Fatalf("%s: %v\n%s", file, err, b)
				}
				if got, _ := os.ReadFile(out); !bytes.Equal(got, files[file].Data) {
					t.Errorf("%s: got %d bytes, want %d", file, len(got), n)
				}
				tr := ts.transfer(t)
				if tr.Err != nil {
					t.Errorf("%s: server reported %v", file, tr.Err)
				}
				if cl.tool == "atftp" && tr.WindowSize != 8 {
					t.Errorf("%s: window size %d, want 8", file, tr.WindowSize)
				}
			}
		})
	}
}

// interopProbes: a flag, and what its output must contain.
var interopProbes = map[string][2]string{
	"busybox": {"--list", "tftp\n"},
	"tftp":    {"-V", "tftp-hpa"},
	"atftp":   {"--version", "atftp"},
}

type interopClient struct {
	name      string
	tool      string
	args      func(file, out string) []string
	skipEmpty bool // curl 7.88 rejects "tsize 0" in an OACK as invalid, though RFC 2349 asks for it
}

// interopClients are the real TFTP clients TestInterop runs, when installed.
func interopClients(port string) []interopClient {
	return []interopClient{
		{"busybox", "busybox", func(file, out string) []string {
			return []string{"tftp", "-g", "-r", file, "-l", out, "127.0.0.1", port}
		}, false},
		{"busybox blksize", "busybox", func(file, out string) []string {
			return []string{"tftp", "-g", "-r", file, "-l", out, "-b", "1468", "127.0.0.1", port}
		}, false},
		{"curl", "curl", func(file, out string) []string {
			return []string{"-sS", "-o", out, "tftp://127.0.0.1:" + port + "/" + file}
		}, true},
		{"curl blksize", "curl", func(file, out string) []string {
			return []string{"-sS", "--tftp-blksize", "1024", "-o", out, "tftp://127.0.0.1:" + port + "/" + file}
		}, true},
		{"curl no options", "curl", func(file, out string) []string {
			return []string{"-sS", "--tftp-no-options", "-o", out, "tftp://127.0.0.1:" + port + "/" + file}
		}, false},
		{"tftp-hpa", "tftp", func(file, out string) []string {
			return []string{"-m", "binary", "127.0.0.1", port, "-c", "get", file, out}
		}, false},
		{"atftp windowsize", "atftp", func(file, out string) []string {
			return []string{"--option", "blksize 1024", "--option", "windowsize 8", "--option", "tsize 0",
				"-g", "-r", file, "-l", out, "127.0.0.1", port}
		}, false},
	}
}
