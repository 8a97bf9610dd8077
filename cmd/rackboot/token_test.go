package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rackboot/internal/api"
	"rackboot/internal/store/etcdstore"
	"rackboot/internal/store/etcdstore/etcdtest"
)

// TestTokenRotateOfflineEtcd: with no server running, `token rotate
// --config` on a cluster's configuration writes the new token to the
// store, which every server follows, not only to the local file (that one
// would be put back by the store's at the next start).
func TestTokenRotateOfflineEtcd(t *testing.T) {
	c := etcdtest.Start(t, 1)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "rackboot.yaml")
	yaml := fmt.Sprintf("data_dir: %s\nstore:\n  backend: etcd\n  etcd:\n    endpoints: [%s]\n    prefix: /rb-token-test/\n",
		dir, strings.Join(c.Endpoints(), ", "))
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := rootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(new(bytes.Buffer))
	// --server names nothing that listens, as when no serve runs; the
	// data directory has no serve.json.
	cmd.SetArgs([]string{"token", "rotate", "--config", cfg, "--data-dir", dir})
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())
	st, err := etcdstore.Open(context.Background(), etcdstore.Options{Endpoints: c.Endpoints(), Prefix: "/rb-token-test/"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kv, err := st.Get(context.Background(), api.TokenKey)
	if err != nil {
		t.Fatalf("the store has no token after rotate: %v", err)
	}
	if got := strings.TrimSpace(string(kv.Value)); tok == "" || got != tok {
		t.Fatalf("rotate printed %q, the store holds %q", tok, got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, api.TokenFile)); strings.TrimSpace(string(b)) != tok {
		t.Fatalf("the local token file holds %q, want %q", b, tok)
	}
}
