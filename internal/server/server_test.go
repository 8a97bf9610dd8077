package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rackboot/internal/api"
	"rackboot/internal/config"
)

// loopbackConfig is a serve on loopback with DHCP off and no memtest.
func loopbackConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Interface, cfg.Advertise = "lo", "127.0.0.1"
	cfg.HTTPAddr, cfg.TFTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.DHCP.Mode = config.DHCPOff
	cfg.Memtest = config.Memtest{}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestRunAndClose: a server is complete when New returns; Run announces
// it in serve.json and serves HTTP until its context ends, then removes
// serve.json; Close releases the store, so it can be opened again.
func TestRunAndClose(t *testing.T) {
	cfg := loopbackConfig(t)
	s, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// DHCP would listen on port 67 of the host: the test runs the rest.
	s.dhcp = func(ctx context.Context) error { <-ctx.Done(); return nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	var info api.ServeInfo
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ok bool
		if info, ok = api.FindServer(context.Background(), cfg.DataDir); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve.json does not name a live server")
		}
		time.Sleep(20 * time.Millisecond)
	}
	resp, err := http.Get(info.APIURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"rackboot_files_refused_total", "rackboot_tftp_transfers_active"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, api.ServeFile)); !os.IsNotExist(err) {
		t.Errorf("serve.json left behind: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(cfg, nil)
	if err != nil {
		t.Fatalf("the store is still held after Close: %v", err)
	}
	st.Close()
}

// TestNewFailsClean: a configuration New refuses leaves nothing open.
func TestNewFailsClean(t *testing.T) {
	cfg := loopbackConfig(t)
	cfg.Menu.Default = "memtest" // not offered: no memtest configured
	if _, err := New(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "not a menu item") {
		t.Fatalf("New: %v, want the menu default refused", err)
	}
	st, err := OpenStore(cfg, nil)
	if err != nil {
		t.Fatalf("the store is still held after a failed New: %v", err)
	}
	st.Close()
}

// TestTokenNotLogged: the API token made at first start is printed to a
// terminal only; a service's stdout (the journal, a log file) gets where
// it is, not the token.
func TestTokenNotLogged(t *testing.T) {
	cfg := loopbackConfig(t)
	out, err := os.Create(filepath.Join(t.TempDir(), "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = out
	s, err := New(cfg, slog.New(slog.DiscardHandler))
	os.Stdout = stdout
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	logged, _ := os.ReadFile(out.Name())
	tok, err := os.ReadFile(filepath.Join(cfg.DataDir, api.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(logged), strings.TrimSpace(string(tok))) {
		t.Errorf("the token went to a stdout that is not a terminal: %q", logged)
	}
	if !strings.Contains(string(logged), api.TokenFile) {
		t.Errorf("stdout does not say where the token is: %q", logged)
	}
}
