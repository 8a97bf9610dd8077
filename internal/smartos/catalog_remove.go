package smartos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"rackboot/internal/durable"
	"rackboot/internal/store"
)

// Remove deletes a build from the data dir and the catalog. The default
// build and pinned builds are refused unless force is set (removing the
// default also unsets it). The directory is renamed aside in one step and
// then deleted, so a crash never leaves half a platform under its name.
func (im *Importer) Remove(ctx context.Context, build string, force bool) error {
	im.mu.Lock()
	defer im.mu.Unlock()
	if err := im.removeLocked(ctx, build, force); err != nil {
		return fmt.Errorf("remove platform %s: %w", build, err)
	}
	return nil
}

// removable checks, inside tx, that build may go.
func removable(tx store.Tx, build string, force, onDisk bool) error {
	e, ok, err := txEntry(tx, build)
	if err != nil {
		return err
	}
	if !ok && !onDisk {
		return errors.New("no such build in the catalog or the data dir")
	}
	if force {
		return nil
	}
	def, err := txDefault(tx)
	if err != nil {
		return err
	}
	if def == build {
		return errors.New("it is the default platform: set another default first, or force")
	}
	if e.Pinned {
		return errors.New("it is pinned: unpin it first, or force")
	}
	return nil
}

func (im *Importer) removeLocked(ctx context.Context, build string, force bool) error {
	if !validBuild(build) {
		return errors.New("not a build name")
	}
	dir := filepath.Join(im.platformsDir(), build)
	_, statErr := os.Lstat(dir)
	onDisk := statErr == nil
	// Check first, so that a refusal touches nothing.
	if err := im.Store.Txn(ctx, func(tx store.Tx) error { return removable(tx, build, force, onDisk) }); err != nil {
		return err
	}
	var aside string
	if onDisk {
		aside = filepath.Join(im.platformsDir(), ".tmp-rm-"+build+"-"+randSuffix())
		if err := os.Rename(dir, aside); err != nil {
			return err
		}
	}
	err := im.Store.Txn(ctx, func(tx store.Tx) error {
		if err := removable(tx, build, force, onDisk); err != nil {
			return err
		}
		if def, err := txDefault(tx); err != nil || def == build {
			if err != nil {
				return err
			}
			if err := tx.Delete(defaultKey); err != nil {
				return err
			}
		}
		return tx.Delete(catalogPrefix + build)
	})
	if err != nil {
		if aside != "" {
			if rerr := os.Rename(aside, dir); rerr != nil {
				im.log().Error("cannot put the platform back", "build", build, "from", aside, "err", rerr)
			}
		}
		return err
	}
	durable.Sync(im.platformsDir())
	if aside != "" {
		if err := os.RemoveAll(aside); err != nil {
			im.log().Warn("platform not fully deleted; CleanLeftovers will finish", "dir", aside, "err", err)
		}
	}
	im.log().Info("platform removed", "build", build)
	return nil
}

// Prune removes catalog builds beyond the keep newest ones, sparing the
// default and pinned builds, and returns the builds it removed. Builds on
// disk but not in the catalog are not touched; ReconcileCatalog adds them.
func (im *Importer) Prune(ctx context.Context, keep int) ([]string, error) {
	if keep < 0 {
		return nil, fmt.Errorf("prune: keep must be 0 or more, not %d", keep)
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	entries, err := ReadCatalog(ctx, im.Store)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	def, err := DefaultBuild(ctx, im.Store)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	var removed []string
	for i, e := range entries { // newest first
		if i < keep || e.Build == def || e.Pinned {
			continue
		}
		if err := im.removeLocked(ctx, e.Build, false); err != nil {
			return removed, fmt.Errorf("prune: remove %s: %w", e.Build, err)
		}
		removed = append(removed, e.Build)
	}
	return removed, nil
}
