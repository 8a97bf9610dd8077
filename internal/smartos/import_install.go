package smartos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"rackboot/internal/durable"
)

// install moves an unpacked, checked platform from tmp to
// <dataDir>/smartos/<build> in one rename and records it in the catalog.
// With force, a present build is first renamed aside, and removed only once
// the new one is in place and recorded; any failure puts the old one back.
func (im *Importer) install(ctx context.Context, tmp string, e CatalogEntry, force bool) (CatalogEntry, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	dir := im.platformsDir()
	final := filepath.Join(dir, e.Build)
	var aside string
	if _, err := os.Lstat(final); err == nil {
		if !force {
			return CatalogEntry{}, fmt.Errorf("platform %s appeared while importing; import again to use it, or force to replace it", e.Build)
		}
		aside = filepath.Join(dir, ".tmp-rm-"+e.Build+"-"+randSuffix())
		if err := os.Rename(final, aside); err != nil {
			return CatalogEntry{}, fmt.Errorf("move the old %s aside: %w", e.Build, err)
		}
	}
	restore := func() {
		if aside == "" {
			return
		}
		if err := os.Rename(aside, final); err != nil {
			im.log().Error("cannot put the old platform back", "build", e.Build, "from", aside, "err", err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		restore()
		return CatalogEntry{}, fmt.Errorf("move %s into place: %w", e.Build, err)
	}
	if err := durable.Sync(dir); err != nil {
		im.log().Warn("fsync of the platforms dir failed", "dir", dir, "err", err)
	}
	e, err := im.recordImport(ctx, e)
	if err != nil {
		if rerr := os.Rename(final, tmp); rerr != nil {
			im.log().Error("cannot undo the move", "build", e.Build, "err", rerr)
		}
		restore()
		durable.Sync(dir)
		return CatalogEntry{}, fmt.Errorf("record %s in the catalog: %w", e.Build, err)
	}
	if aside != "" {
		if err := os.RemoveAll(aside); err != nil {
			im.log().Warn("old platform not fully removed; CleanLeftovers will finish", "dir", aside, "err", err)
		}
	}
	return e, nil
}

// randSuffix returns 8 random hex digits for temporary names.
func randSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// diskFullError says the data dir's file system is full, and what to do.
type diskFullError struct {
	dir string
	err error
}

func (e *diskFullError) Error() string {
	return fmt.Sprintf("no space left in %s (%v): free some space, e.g. remove or prune old platforms, and import again", e.dir, e.err)
}

func (e *diskFullError) Unwrap() error { return e.err }

// diskFull turns ENOSPC into a diskFullError; other errors pass unchanged.
func diskFull(err error, dir string) error {
	var dfe *diskFullError
	if err == nil || errors.As(err, &dfe) || !errors.Is(err, syscall.ENOSPC) {
		return err
	}
	return &diskFullError{dir: dir, err: err}
}

// CleanLeftovers removes the temporary directories (.tmp-*) that a crash
// during an import or a removal may leave in <dataDir>/smartos. Partial
// downloads in .incoming are kept so that the next import resumes them.
// It returns the directories removed.
func CleanLeftovers(dataDir string) ([]string, error) {
	dir := filepath.Join(dataDir, "smartos")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("clean leftovers: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".tmp-") {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("clean leftovers: %w", err)
	}
	return removed, nil
}
