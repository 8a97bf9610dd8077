//go:build linux

package e2e

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// packageDir is this package's source directory (test/e2e).
func packageDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "."
	}
	return filepath.Dir(file)
}

// TestKernelSource is the directory with the test kernel's sources.
func TestKernelSource() string { return filepath.Join(packageDir(), "testkernel") }

var (
	kernelMu   sync.Mutex
	kernelPath string
)

// TestKernel builds the multiboot test kernel (once per test binary) and
// returns the path of the ELF file. It needs gcc able to emit 32-bit code
// (-m32 with no libraries: no multilib needed) and GNU ld.
func TestKernel(t testing.TB) string {
	t.Helper()
	kernelMu.Lock()
	defer kernelMu.Unlock()
	if kernelPath != "" {
		return kernelPath
	}
	RequireCommands(t, "gcc", "ld")
	dir, err := os.MkdirTemp("", "rbe2e-kernel-")
	if err != nil {
		t.Fatal(err)
	}
	path, err := buildTestKernel(context.Background(), TestKernelSource(), dir)
	if err != nil {
		t.Fatalf("build test kernel: %v", err)
	}
	kernelPath = path
	return path
}

// CleanupTestKernel removes the built kernel; TestMain calls it.
func CleanupTestKernel() {
	kernelMu.Lock()
	defer kernelMu.Unlock()
	if kernelPath != "" {
		os.RemoveAll(filepath.Dir(kernelPath))
		kernelPath = ""
	}
}

func buildTestKernel(ctx context.Context, src, dir string) (string, error) {
	cflags := []string{"-m32", "-ffreestanding", "-fno-pic", "-fno-pie", "-nostdlib",
		"-fno-stack-protector", "-O2", "-mgeneral-regs-only", "-fno-asynchronous-unwind-tables",
		"-Wall", "-Wextra", "-Werror"}
	var objs []string
	for _, f := range []string{"boot.S", "kernel.c"} {
		obj := filepath.Join(dir, strings.TrimSuffix(f, filepath.Ext(f))+".o")
		argv := append([]string{"gcc"}, cflags...)
		argv = append(argv, "-c", filepath.Join(src, f), "-o", obj)
		if _, err := runCommand(ctx, argv...); err != nil {
			return "", err
		}
		objs = append(objs, obj)
	}
	elf := filepath.Join(dir, "kernel.elf")
	argv := append([]string{"ld", "-m", "elf_i386", "-nostdlib", "--build-id=none",
		"-T", filepath.Join(src, "link.ld"), "-o", elf}, objs...)
	if _, err := runCommand(ctx, argv...); err != nil {
		return "", err
	}
	b, err := os.ReadFile(elf)
	if err != nil {
		return "", err
	}
	if off := MultibootHeaderOffset(b); off < 0 {
		return "", fmt.Errorf("%s: no multiboot header in the first 8 KiB", elf)
	}
	return elf, nil
}

// MultibootHeaderOffset returns where a valid multiboot v1 header starts in
// image (within the first 8 KiB, 4-byte aligned, as the spec requires), or -1.
func MultibootHeaderOffset(image []byte) int {
	const magic = 0x1BADB002
	for off := 0; off+12 <= len(image) && off < 8192; off += 4 {
		m := binary.LittleEndian.Uint32(image[off:])
		f := binary.LittleEndian.Uint32(image[off+4:])
		c := binary.LittleEndian.Uint32(image[off+8:])
		if m == magic && m+f+c == 0 {
			return off
		}
	}
	return -1
}

// KernelReport is what the test kernel printed about its boot.
type KernelReport struct {
	Magic   string // "2badb002" when started by a multiboot loader
	Cmdline string // as the loader passed it; iPXE puts the kernel URL first
	Modules []KernelModule
	Done    bool // "RBK done" was seen
}

// KernelModule is one multiboot module as the kernel saw it.
type KernelModule struct {
	Index int
	Name  string // the module's string: iPXE passes "URL [args]"
	Size  int64
	CRC32 uint32 // CRC-32/IEEE of the bytes in memory
}

// URL returns the first word of the module string (iPXE's image URL).
func (m KernelModule) URL() string { f, _, _ := strings.Cut(m.Name, " "); return f }

var moduleLine = regexp.MustCompile(`^module (\d+) name=(.*) size=(\d+) crc32=([0-9a-f]{8})$`)

// ParseKernelReport reads the "RBK ..." lines from console text (escape
// sequences already removed, see ScreenText). Lines from anything else
// (firmware, iPXE) are ignored. It fails if a line is malformed or "RBK done"
// is missing.
func ParseKernelReport(text string) (KernelReport, error) {
	var r KernelReport
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		i := strings.Index(sc.Text(), "RBK ")
		if i < 0 {
			continue
		}
		line := strings.TrimRight(sc.Text()[i+4:], " ")
		switch {
		case strings.HasPrefix(line, "start magic="):
			r.Magic = strings.TrimPrefix(line, "start magic=")
		case strings.HasPrefix(line, "cmdline: "), line == "cmdline:":
			r.Cmdline = strings.TrimPrefix(strings.TrimPrefix(line, "cmdline:"), " ")
		case strings.HasPrefix(line, "module "):
			m := moduleLine.FindStringSubmatch(line)
			if m == nil {
				return r, fmt.Errorf("malformed module line %q", line)
			}
			idx, _ := strconv.Atoi(m[1])
			size, _ := strconv.ParseInt(m[3], 10, 64)
			crc, _ := strconv.ParseUint(m[4], 16, 32)
			if idx != len(r.Modules) {
				return r, fmt.Errorf("module %d reported out of order (have %d)", idx, len(r.Modules))
			}
			r.Modules = append(r.Modules, KernelModule{Index: idx, Name: m[2], Size: size, CRC32: uint32(crc)})
		case strings.HasPrefix(line, "error"):
			return r, fmt.Errorf("test kernel: %s", line)
		case line == "done":
			r.Done = true
		}
	}
	if !r.Done {
		return r, fmt.Errorf("test kernel did not finish (no %q line)", "RBK done")
	}
	return r, nil
}

// KernelCmdlineArgs splits a cmdline into the kernel's URL (or file name) and
// the rest.
func KernelCmdlineArgs(cmdline string) (first, rest string) {
	first, rest, _ = strings.Cut(cmdline, " ")
	return first, rest
}
