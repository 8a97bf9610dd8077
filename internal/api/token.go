package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// TokenFile is the API token's file in the data directory (mode 0600).
const TokenFile = "api-token"

// Tokens keeps the API token in the data directory: made at first start,
// read back after, replaced by Rotate.
type Tokens struct {
	path string
	mu   sync.RWMutex
	tok  string
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
	b := make([]byte, 24)
	rand.Read(b)
	tok := "rbt_" + hex.EncodeToString(b)
	tmp := t.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	if err := os.Rename(tmp, t.path); err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	t.mu.Lock()
	t.tok = tok
	t.mu.Unlock()
	return tok, nil
}
