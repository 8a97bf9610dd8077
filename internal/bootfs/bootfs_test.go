package bootfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestServable(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"undionly.kpxe", true},
		{"smartos/20240101T000000Z/platform/i86pc/kernel/amd64/unix", true},
		{"smartos/20240101T000000Z/platform/i86pc/amd64/boot_archive.hash", true},
		{"memtest/memtest86+x64.bin", true},
		{"grubx64.efi", true},
		{"a..b", true}, // dots inside a name are fine
		{"", false},
		{".", false},
		{"/api-token", false},
		{"../api-token", false},
		{"smartos/../api-token", false},
		{"smartos//x", false},
		{"smartos/x/", false},
		{".incoming/20240101T000000Z.tgz.part", false},
		{"smartos/.incoming/platform-latest.tgz.part", false},
		{"smartos/.incoming/platform-latest.tgz.part.json", false},
		{"smartos/.tmp-20240101T000000Z-123/platform/x", false},
		{"smartos/.tmp-rm-20240101T000000Z-abc", false},
		{".git/config", false},
		{"public/.htpasswd", false},
		{"x/./y", false},
	} {
		if got := Servable(tc.name); got != tc.want {
			t.Errorf("Servable(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzServable checks the rule's invariants on any name: it never panics,
// and a name it accepts is a clean relative path with no hidden element,
// so that it can neither climb out of a mount nor reach a scratch file.
func FuzzServable(f *testing.F) {
	for _, s := range []string{"undionly.kpxe", "smartos/b/platform/x", "../x", ".incoming/a.part", "a/.tmp-b/c", "a//b", "/etc/passwd", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if !Servable(name) {
			return
		}
		if !fs.ValidPath(name) || strings.HasPrefix(name, "/") || name == "." {
			t.Fatalf("Servable(%q): not a clean relative path", name)
		}
		for _, elem := range strings.Split(name, "/") {
			if elem == ".." || elem == "." || elem == "" || elem[0] == '.' {
				t.Fatalf("Servable(%q): element %q", name, elem)
			}
		}
	})
}

// dataDir lays out a data directory the way serve leaves it: secrets at the
// top, platforms under smartos/ with an import under way, public files.
func dataDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	files := map[string]string{
		"api-token":          "secret-token",
		"rackboot.db":        "the store",
		"rackboot.db.pid":    "123",
		"serve.json":         `{"pid":1}`,
		"notes.txt":          "an operator's file at the top: no longer served",
		"public/hello.txt":   "hello",
		"public/grubx64.efi": "grub",
		"smartos/20240101T000000Z/platform/i86pc/kernel/amd64/unix": "kernel",
		"smartos/.incoming/platform-latest.tgz.part":                "partial",
		"smartos/.tmp-20250101T000000Z-1/platform/unix":             "scratch",
	}
	for name, body := range files {
		p := filepath.Join(d, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func newFS(t *testing.T, d string) *FS {
	t.Helper()
	builds := fstest.MapFS{"undionly.kpxe": {Data: []byte("ipxe")}}
	f, err := New(builds, Mount{Prefix: "smartos", Dir: filepath.Join(d, "smartos")}, Mount{Dir: filepath.Join(d, "public")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func read(f fs.FS, name string) (string, error) {
	b, err := fs.ReadFile(f, name)
	return string(b), err
}

func TestOpen(t *testing.T) {
	d := dataDir(t)
	symlink := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(d, filepath.FromSlash(name))); err != nil {
			t.Skip("no symbolic links here:", err)
		}
	}
	// Links an operator (or an attacker with a shell) might leave.
	symlink("../api-token", "public/token-up")
	symlink(filepath.Join(d, "rackboot.db"), "public/db-abs")
	symlink(".incoming/platform-latest.tgz.part", "smartos/partial")
	symlink("../smartos/.tmp-20250101T000000Z-1", "smartos/20240101T000000Z/scratch")
	symlink("20240101T000000Z", "smartos/latest")
	symlink("hello.txt", "public/hi")
	symlink("loop", "public/loop")
	f := newFS(t, d)

	served := map[string]string{
		"undionly.kpxe": "ipxe",
		"hello.txt":     "hello",
		"hi":            "hello",
		"grubx64.efi":   "grub",
		"smartos/20240101T000000Z/platform/i86pc/kernel/amd64/unix": "kernel",
		"smartos/latest/platform/i86pc/kernel/amd64/unix":           "kernel",
	}
	for name, want := range served {
		got, err := read(f, name)
		if err != nil || got != want {
			t.Errorf("%s: got %q, %v; want %q", name, got, err, want)
		}
	}
	refused := []string{
		"api-token", "rackboot.db", "rackboot.db.pid", "serve.json", "notes.txt",
		"../api-token", "smartos/../api-token", "public/hello.txt", "smartos",
		"smartos/.incoming/platform-latest.tgz.part", "smartos/.tmp-20250101T000000Z-1/platform/unix",
		"token-up", "db-abs", "smartos/partial", "smartos/20240101T000000Z/scratch/platform/unix",
		"loop",
	}
	before := f.Refused()
	for _, name := range refused {
		got, err := read(f, name)
		if err == nil {
			t.Errorf("%s: served %q; want refused", name, got)
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrNotServed) {
			t.Logf("%s: %v (refused, not as not-exist)", name, err)
		}
	}
	if f.Refused() == before {
		t.Error("refusals were not counted")
	}
}

// TestOpenIsOSFile: HTTP's sendfile needs *os.File bodies.
func TestOpenIsOSFile(t *testing.T) {
	f := newFS(t, dataDir(t))
	file, err := f.Open("hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, ok := file.(*os.File); !ok {
		t.Fatalf("Open gave %T, want *os.File", file)
	}
	if _, ok := file.(io.ReaderAt); !ok {
		t.Fatal("not an io.ReaderAt")
	}
}

func TestBuildsWin(t *testing.T) {
	d := dataDir(t)
	if err := os.WriteFile(filepath.Join(d, "public", "undionly.kpxe"), []byte("stray"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := read(newFS(t, d), "undionly.kpxe")
	if err != nil || got != "ipxe" {
		t.Fatalf("got %q, %v; want the build", got, err)
	}
}

func TestUnserved(t *testing.T) {
	d := dataDir(t)
	got, err := Unserved(d, []string{"smartos", PublicDir}, "api-token", "rackboot.db", "rackboot.db.pid", "serve.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "notes.txt" {
		t.Fatalf("Unserved = %q, want [notes.txt]", got)
	}
}

// TestStat: Stat finds what Open finds, refuses what Open refuses, and does
// not open: TFTP stats first so that a FIFO is refused rather than opened
// (opening one would wait for a writer).
func TestStat(t *testing.T) {
	d := dataDir(t)
	f := newFS(t, d)
	var _ fs.StatFS = f
	for name, size := range map[string]int64{"undionly.kpxe": 4, "hello.txt": 5,
		"smartos/20240101T000000Z/platform/i86pc/kernel/amd64/unix": 6} {
		fi, err := f.Stat(name)
		if err != nil || fi.Size() != size || !fi.Mode().IsRegular() {
			t.Errorf("Stat(%s) = %v, %v; want a regular file of %d bytes", name, fi, err, size)
		}
	}
	before := f.Refused()
	for _, name := range []string{"api-token", "../api-token", "smartos/.incoming/platform-latest.tgz.part"} {
		if _, err := f.Stat(name); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%s): %v; want refused as not existing", name, err)
		}
	}
	if got := f.Refused() - before; got != 2 { // api-token is merely absent from public/
		t.Errorf("Stat counted %d refusals, want 2", got)
	}
	fifo := filepath.Join(d, "public", "fifo")
	if err := mkfifo(fifo); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	fi, err := f.Stat("fifo")
	if err != nil || fi.Mode().IsRegular() {
		t.Errorf("Stat(fifo) = %v, %v; want a FIFO", fi, err)
	}
}
