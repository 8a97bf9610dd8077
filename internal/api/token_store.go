package api

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"rackboot/internal/store"
)

// TokenKey is the API token's key in a store shared by several servers
// (store.backend: etcd).
const TokenKey = "api/token"

// LoadSharedTokens is LoadTokens for servers that share st: the token
// lives in the store, and every server uses it. The first server creates
// it in a transaction that writes only if the key is absent (its existing
// api-token file's token, so a server moved from bolt keeps its token,
// else a new one); the others read it. Each server also writes it to its
// own <dataDir>/api-token (0600), so that the CLI on its host finds it;
// Follow keeps that file and the token in memory current after a rotation
// on any server. created says whether this server made the store's token.
func LoadSharedTokens(ctx context.Context, dataDir string, st store.Store) (t *Tokens, created bool, err error) {
	t = &Tokens{path: filepath.Join(dataDir, TokenFile), shared: st}
	candidate := ""
	switch b, err := os.ReadFile(t.path); {
	case err == nil:
		candidate = strings.TrimSpace(string(b))
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("api token: %w", err)
	}
	if candidate == "" {
		candidate = newToken()
	}
	var tok string
	err = st.Txn(ctx, func(tx store.Tx) error {
		created = false
		kv, err := tx.Get(TokenKey)
		switch {
		case err == nil:
			tok = strings.TrimSpace(string(kv.Value))
			if tok == "" {
				return fmt.Errorf("the store's API token (key %s) is empty: rotate it (rackboot token rotate)", TokenKey)
			}
			return nil
		case errors.Is(err, store.ErrNotFound):
			tok, created = candidate, true
			return tx.Put(TokenKey, []byte(tok))
		}
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("api token in the store: %w", err)
	}
	if err := t.set(tok); err != nil {
		return nil, false, err
	}
	return t, created, nil
}

// Follow keeps a shared token current until ctx ends: a rotation on any
// server (a write of TokenKey) replaces the token here and in the data
// directory's file. Without a shared store it only waits for ctx.
func (t *Tokens) Follow(ctx context.Context, log *slog.Logger) error {
	if t.shared == nil {
		<-ctx.Done()
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for ctx.Err() == nil {
		ch := t.shared.Watch(ctx, TokenKey)
		// Read after the watch started: a rotation in between is in both.
		t.reload(ctx, log)
		for ev := range ch {
			if ev.Key == TokenKey && ev.Type == store.EventPut {
				t.apply(string(ev.Value), log)
			}
		}
		select { // the watch ended (store restarted, compacted): read and watch again
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

func (t *Tokens) reload(ctx context.Context, log *slog.Logger) {
	kv, err := t.shared.Get(ctx, TokenKey)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("cannot read the API token from the store; the last one read stays in use", "err", err)
		}
		return
	}
	t.apply(string(kv.Value), log)
}

func (t *Tokens) apply(v string, log *slog.Logger) {
	tok := strings.TrimSpace(v)
	if tok == "" || tok == t.Token() {
		return
	}
	if err := t.set(tok); err != nil {
		log.Warn("API token rotated elsewhere; cannot write it to the data directory", "err", err)
		return
	}
	log.Info("API token rotated on another server; now in use here")
}
