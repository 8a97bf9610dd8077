package server

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rackboot/internal/config"
)

// TestSecureBootChainNeverState: secure_boot.shim and .grub are served at
// the TFTP root by their base names; naming rackboot's own state there
// (relative, absolute or through a link) must not serve it.
func TestSecureBootChainNeverState(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "api-token"), []byte("secret"), 0o600)
	os.MkdirAll(filepath.Join(dir, "os", "d"), 0o755)
	for _, n := range []string{"bootnetx64.efi", "grubx64.efi"} {
		os.WriteFile(filepath.Join(dir, "os", "d", n), []byte("efi"), 0o644)
	}
	os.Symlink("../../api-token", filepath.Join(dir, "os", "d", "token.efi"))
	cfg := config.Config{DataDir: dir}
	cfg.SecureBoot = config.SecureBoot{Shim: "os/d/bootnetx64.efi", GRUB: "os/d/grubx64.efi", GRUBPrefix: "grub"}
	if c := secureBootChain(cfg, slog.New(slog.DiscardHandler)); c == nil || c.Shim != filepath.Join(dir, "os/d/bootnetx64.efi") {
		t.Fatalf("the chain os import suggests: %+v", c)
	}
	for _, bad := range []string{"api-token", filepath.Join(dir, "api-token"), "os/d/token.efi"} {
		cfg.SecureBoot.Shim = bad
		if c := secureBootChain(cfg, slog.New(slog.DiscardHandler)); c != nil {
			t.Errorf("shim %q: chain %+v serves rackboot's own state", bad, c.Files())
		}
	}
}

// os/ holds rackboot os import's trees: not an operator's stray file to
// move to public/ (its files are served through the targets that name them).
func TestWarnUnservedLeavesImportsAlone(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "os", "deb"), 0o755)
	os.WriteFile(filepath.Join(dir, "stray.iso"), []byte("x"), 0o644)
	var buf bytes.Buffer
	warnUnserved(dir, slog.New(slog.NewTextHandler(&buf, nil)))
	if !strings.Contains(buf.String(), "stray.iso") || strings.Contains(buf.String(), filepath.Join(dir, "os")+" ") ||
		strings.Contains(buf.String(), "file="+filepath.Join(dir, "os")) {
		t.Errorf("warnings:\n%s", buf.String())
	}
}
