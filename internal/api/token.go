package api

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"rackboot/internal/store"
)

// TokenFile is the API token's file in the data directory (mode 0600).
const TokenFile = "api-token"

// Tokens keeps the API token in the data directory: made at first start,
// read back after, replaced by Rotate.
type Tokens struct {
	path   string
	shared store.Store // nil: the file is the token (token_store.go)
	mu     sync.RWMutex
	tok    string
}

// LoadTokens reads the token, creating one if there is none; created says
// whether it is new (serve prints a new token once).
func LoadTokens(dataDir string) (t *Tokens, created bool, err error) {
	t = &Tokens{path: filepath.Join(dataDir, TokenFile)}
	b, err := os.ReadFile(t.path)
	switch {
	case err == nil:
		t.tok = strings.TrimSpace(string(b))
		if t.tok == "" {
			return nil, false, fmt.Errorf("%s is empty: remove it and a new token is made", t.path)
		}
		return t, false, nil
	case errors.Is(err, fs.ErrNotExist):
		_, err := t.Rotate()
		return t, err == nil, err
	}
	return nil, false, fmt.Errorf("api token: %w", err)
}

// Token returns the current token.
func (t *Tokens) Token() string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.tok
}

// Rotate makes a new token, stores it atomically and returns it.
func (t *Tokens) Rotate() (string, error) {
	tok := newToken()
	if t.shared != nil {
		// Every server follows the store's token (Follow): write it
		// there first, so that a failed write changes nothing.
		if _, err := t.shared.Put(context.Background(), TokenKey, []byte(tok)); err != nil {
			return "", fmt.Errorf("api token: %w", err)
		}
	}
	if err := t.set(tok); err != nil {
		return "", err
	}
	return tok, nil
}

// set writes tok to the file atomically (0600) and makes it current.
func (t *Tokens) set(tok string) error {
	t.mu.Lock() // one writer of the file at a time (a rotation here, one followed from elsewhere)
	defer t.mu.Unlock()
	tmp := t.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return fmt.Errorf("api token: %w", err)
	}
	if err := os.Rename(tmp, t.path); err != nil {
		return fmt.Errorf("api token: %w", err)
	}
	t.tok = tok
	return nil
}

// newToken makes a random token.
func newToken() string { return "rbt_" + randomHex(24) } // session.go
