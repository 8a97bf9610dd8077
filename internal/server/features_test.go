package server

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The multiboot2 feature reaches the menu both ways a menu is asked for:
// the URL the DHCP answer gives (GET /boot.ipxe?...&features=multiboot2)
// and the API's preview (?features=).
func TestMenuFeatures(t *testing.T) {
	cfg := loopbackConfig(t)
	const build = "20250101T000000Z"
	for _, f := range []string{"platform/i86pc/kernel/amd64/unix", "platform/i86pc/amd64/boot_archive"} {
		p := filepath.Join(cfg.DataDir, "smartos", build, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	boots := "\n:smartos-" + build + "\n"
	get := func(url string) string {
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, httptest.NewRequest("GET", url, nil))
		b, _ := io.ReadAll(rec.Body)
		if rec.Code != 200 {
			t.Errorf("%s: status %d %s", url, rec.Code, b)
		}
		return string(b)
	}
	const q = "/boot.ipxe?mac=52:54:00:12:34:56&arch=efi-x86_64"
	if out := get(q); strings.Contains(out, boots) {
		t.Errorf("stock UEFI iPXE offered SmartOS:\n%s", out)
	}
	if out := get(q + "&features=multiboot2"); !strings.Contains(out, boots) {
		t.Errorf("multiboot2 UEFI iPXE not offered SmartOS:\n%s", out)
	}
	for features, want := range map[string]bool{"": false, "multiboot2": true} {
		out, err := s.preview(context.Background(), "52:54:00:12:34:56", "efi-x86_64", features, "http://127.0.0.1")
		if err != nil || strings.Contains(string(out), boots) != want {
			t.Errorf("preview features %q: %v\n%s", features, err, out)
		}
	}
	if _, err := s.preview(context.Background(), "52:54:00:12:34:56", "efi-x86_64", "nope", "http://127.0.0.1"); err == nil {
		t.Error("preview accepted an unknown feature")
	}
}
