package httpd

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rackboot/internal/pxe"
)

func newServer(t *testing.T) (*httptest.Server, *[]MenuRequest, *[]FileEvent) {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "smartos/1/platform"), 0o755)
	os.WriteFile(filepath.Join(dir, "smartos/1/platform/boot_archive"), []byte("0123456789"), 0o644)
	os.WriteFile(filepath.Join(t.TempDir(), "secret"), []byte("no"), 0o644)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644)
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "escape"))
	os.Symlink("smartos/1/platform/boot_archive", filepath.Join(dir, "inside"))
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	var menus []MenuRequest
	var files []FileEvent
	s := &Server{
		Files: root.FS(),
		Menu: func(_ context.Context, r MenuRequest) ([]byte, error) {
			menus = append(menus, r)
			return []byte(fmt.Sprintf("#!ipxe\necho %s %s %s\n", r.MAC, r.Arch, r.BaseURL)), nil
		},
		OnFile: func(e FileEvent) { files = append(files, e) },
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, &menus, &files
}

func get(t *testing.T, method, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestMenu(t *testing.T) {
	ts, menus, _ := newServer(t)
	for _, tc := range []struct {
		query, want string
		arch        pxe.Arch
	}{
		{"mac=52:54:00:12:34:56&arch=bios", "52:54:00:12:34:56 bios", pxe.ArchBIOS},
		{"mac=52:54:00:12:34:56&arch=efi-x86_64", "efi-x86_64", pxe.ArchEFIx8664},
		{"mac=52-54-00-12-34-56&platform=efi&buildarch=x86_64", "efi-x86_64", pxe.ArchEFIx8664},
		{"mac=52:54:00:12:34:56&platform=pcbios&buildarch=i386", "bios", pxe.ArchBIOS},
	} {
		resp, body := get(t, "GET", ts.URL+"/boot.ipxe?"+tc.query)
		if resp.StatusCode != 200 || !strings.Contains(body, tc.want) || !strings.Contains(body, ts.URL) {
			t.Errorf("%s: %d %q", tc.query, resp.StatusCode, body)
		}
		if got := (*menus)[len(*menus)-1]; got.Arch != tc.arch || !got.Client.IsLoopback() || !got.Features.Empty() {
			t.Errorf("%s: request %+v", tc.query, got)
		}
	}
	// The features the DHCP answer put in the URL (boot.MenuURL) reach the menu.
	resp, body := get(t, "GET", ts.URL+"/boot.ipxe?mac=52:54:00:12:34:56&arch=efi-x86_64&features=multiboot2")
	if got := (*menus)[len(*menus)-1]; resp.StatusCode != 200 || !got.Features.Has(pxe.FeatureMultiboot2) {
		t.Errorf("features=multiboot2: %d %q, request %+v", resp.StatusCode, body, got)
	}
	if resp, _ := get(t, "GET", ts.URL+"/boot.ipxe?mac=52:54:00:12:34:56&arch=efi-x86_64&features=multiboot3"); resp.StatusCode != 400 {
		t.Errorf("unknown feature: status %d, want 400", resp.StatusCode)
	}
	for _, q := range []string{"mac=nonsense", "mac=52:54:00:12:34:56&arch=sparc", "mac=52:54:00:12:34:56&platform=coreboot"} {
		if resp, _ := get(t, "GET", ts.URL+"/boot.ipxe?"+q); resp.StatusCode != 400 {
			t.Errorf("%s: status %d, want 400", q, resp.StatusCode)
		}
	}
}

func TestMenuWithoutParametersRechains(t *testing.T) {
	ts, menus, _ := newServer(t)
	_, body := get(t, "GET", ts.URL+"/boot.ipxe")
	want := "chain " + ts.URL + "/boot.ipxe?mac=${mac}&platform=${platform}&buildarch=${buildarch}"
	if !strings.HasPrefix(body, "#!ipxe\n") || !strings.Contains(body, want) {
		t.Errorf("got %q", body)
	}
	if len(*menus) != 0 {
		t.Error("menu built without a MAC")
	}
}

func TestFiles(t *testing.T) {
	ts, _, files := newServer(t)
	const archive = "/smartos/1/platform/boot_archive"
	for _, tc := range []struct {
		name, method, path, rangeHdr string
		status                       int
		body                         string
	}{
		{"whole", "GET", archive, "", 200, "0123456789"},
		{"range", "GET", archive, "bytes=2-4", 206, "234"},
		{"suffix range", "GET", archive, "bytes=-3", 206, "789"},
		{"unsatisfiable", "GET", archive, "bytes=20-", 416, ""},
		{"head", "HEAD", archive, "", 200, ""},
		{"symlink inside", "GET", "/inside", "", 200, "0123456789"},
		{"symlink out of root", "GET", "/escape", "", 403, ""},
		{"traversal", "GET", "/smartos/../../etc/passwd", "", 404, ""},
		{"encoded traversal", "GET", "/%2e%2e/%2e%2e/etc/passwd", "", 404, ""},
		{"directory", "GET", "/smartos/1", "", 404, ""},
		{"missing", "GET", "/nope", "", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, tc.method, ts.URL+tc.path, "Range", tc.rangeHdr)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status < 300 && body != tc.body {
				t.Errorf("body %q, want %q", body, tc.body)
			}
			if tc.name == "head" && resp.ContentLength != 10 {
				t.Errorf("HEAD content-length %d", resp.ContentLength)
			}
			if tc.status == 200 && resp.Header.Get("Accept-Ranges") != "bytes" {
				t.Error("no Accept-Ranges")
			}
		})
	}
	last := (*files)[0]
	if last.Path != "smartos/1/platform/boot_archive" || last.Bytes != 10 || last.Status != 200 {
		t.Errorf("file event %+v", last)
	}
}

// countingWriter must keep io.ReaderFrom, or net/http loses sendfile.
func TestCountingWriterKeepsReaderFrom(t *testing.T) {
	var w http.ResponseWriter = &countingWriter{}
	if _, ok := w.(io.ReaderFrom); !ok {
		t.Fatal("countingWriter hides io.ReaderFrom")
	}
}
