package smartos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"rackboot/internal/store"
)

// Catalog keys in the store.
const (
	catalogPrefix = "platforms/"              // platforms/<build>: a CatalogEntry
	defaultKey    = "config/default-platform" // a JSON string: the build
)

// SourceFoundOnDisk is the Source of a build that was copied into the data
// dir by hand and added to the catalog by ReconcileCatalog.
const SourceFoundOnDisk = "found on disk"

// CatalogEntry is what rackboot knows about one platform build.
type CatalogEntry struct {
	Build        string    `json:"build"`
	Source       string    `json:"source"` // URL, file, or SourceFoundOnDisk
	SHA256       string    `json:"sha256,omitempty"`
	MD5          string    `json:"md5,omitempty"`
	Size         int64     `json:"size,omitempty"` // of the tarball
	ImportedAt   time.Time `json:"imported_at"`
	RootPassword string    `json:"root_password,omitempty"` // single-user root password, when published
	Pinned       bool      `json:"pinned,omitempty"`        // kept by Prune and Remove without force
	// Manifest lists the unpacked tree's files with their SHA-256, so that
	// other servers can fetch the build file by file and check it (Syncer).
	// Entries written before manifests have none until a server that has
	// the build on disk adds it (Syncer).
	Manifest *Manifest `json:"manifest,omitempty"`
}

// ReadCatalog returns every catalog entry, newest build first. It only reads
// the store, for packages that show or serve platforms.
func ReadCatalog(ctx context.Context, st store.Store) ([]CatalogEntry, error) {
	kvs, err := st.List(ctx, catalogPrefix)
	if err != nil {
		return nil, fmt.Errorf("read the platform catalog: %w", err)
	}
	out := make([]CatalogEntry, 0, len(kvs))
	for _, kv := range kvs {
		var e CatalogEntry
		if err := json.Unmarshal(kv.Value, &e); err != nil {
			return nil, fmt.Errorf("catalog entry %s is corrupt: %w", kv.Key, err)
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b CatalogEntry) int { return strings.Compare(b.Build, a.Build) })
	return out, nil
}

// DefaultBuild returns the default platform's build, or "" when none is set.
func DefaultBuild(ctx context.Context, st store.Store) (string, error) {
	kv, err := st.Get(ctx, defaultKey)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the default platform: %w", err)
	}
	var b string
	if err := json.Unmarshal(kv.Value, &b); err != nil {
		return "", fmt.Errorf("%s is corrupt: %w", defaultKey, err)
	}
	return b, nil
}

func txEntry(tx store.Tx, build string) (CatalogEntry, bool, error) {
	kv, err := tx.Get(catalogPrefix + build)
	if errors.Is(err, store.ErrNotFound) {
		return CatalogEntry{}, false, nil
	}
	if err != nil {
		return CatalogEntry{}, false, err
	}
	var e CatalogEntry
	if err := json.Unmarshal(kv.Value, &e); err != nil {
		return CatalogEntry{}, false, fmt.Errorf("catalog entry %s is corrupt: %w", build, err)
	}
	return e, true, nil
}

func txPut(tx store.Tx, e CatalogEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return tx.Put(catalogPrefix+e.Build, b)
}

func txDefault(tx store.Tx) (string, error) {
	kv, err := tx.Get(defaultKey)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var b string
	return b, json.Unmarshal(kv.Value, &b)
}

// ListCatalog returns the catalog, newest build first.
func (im *Importer) ListCatalog(ctx context.Context) ([]CatalogEntry, error) {
	return ReadCatalog(ctx, im.Store)
}

// SetDefault makes build the platform machines boot unless told otherwise.
// The build must be in the catalog and on disk.
func (im *Importer) SetDefault(ctx context.Context, build string) error {
	if !validBuild(build) {
		return fmt.Errorf("set default platform: %q is not a build name", build)
	}
	unix := filepath.Join(im.platformsDir(), build, unixPath)
	if _, err := os.Stat(unix); err != nil {
		return fmt.Errorf("set default platform: %s is not on disk (%s missing); import it again", build, unix)
	}
	err := im.Store.Txn(ctx, func(tx store.Tx) error {
		if _, ok, err := txEntry(tx, build); err != nil || !ok {
			return notInCatalog(build, err)
		}
		b, _ := json.Marshal(build)
		return tx.Put(defaultKey, b)
	})
	if err != nil {
		return fmt.Errorf("set default platform: %w", err)
	}
	return nil
}

// SetPinned pins a build (Prune keeps it, Remove needs force) or unpins it.
func (im *Importer) SetPinned(ctx context.Context, build string, pinned bool) error {
	err := im.Store.Txn(ctx, func(tx store.Tx) error {
		e, ok, err := txEntry(tx, build)
		if err != nil || !ok {
			return notInCatalog(build, err)
		}
		e.Pinned = pinned
		return txPut(tx, e)
	})
	if err != nil {
		return fmt.Errorf("pin platform: %w", err)
	}
	return nil
}

func notInCatalog(build string, err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("platform %s is not in the catalog; import it first, or list the catalog for the builds there are", build)
}

// recordImport writes an imported build's entry, keeping its pin.
func (im *Importer) recordImport(ctx context.Context, e CatalogEntry) (CatalogEntry, error) {
	err := im.Store.Txn(ctx, func(tx store.Tx) error {
		old, ok, err := txEntry(tx, e.Build)
		if err != nil {
			return err
		}
		e.Pinned = e.Pinned || ok && old.Pinned
		return txPut(tx, e)
	})
	return e, err
}

// ensureEntry returns build's entry, adding a found-on-disk one if missing.
func (im *Importer) ensureEntry(ctx context.Context, build string) (CatalogEntry, error) {
	var e CatalogEntry
	err := im.Store.Txn(ctx, func(tx store.Tx) error {
		var ok bool
		var err error
		if e, ok, err = txEntry(tx, build); err != nil || ok {
			return err
		}
		e = im.foundOnDisk(build)
		return txPut(tx, e)
	})
	return e, err
}

// foundOnDisk describes a build that is in the data dir but not the catalog.
func (im *Importer) foundOnDisk(build string) CatalogEntry {
	dir := filepath.Join(im.platformsDir(), build)
	e := CatalogEntry{Build: build, Source: SourceFoundOnDisk, ImportedAt: im.clock().UTC()}
	if fi, err := os.Stat(dir); err == nil {
		e.ImportedAt = fi.ModTime().UTC()
	}
	if b, err := os.ReadFile(filepath.Join(dir, "platform", "root.password")); err == nil {
		e.RootPassword = cleanPassword(b)
	}
	return e
}

// ReconcileCatalog adds to the catalog every build found in
// <DataDir>/smartos/<build>/platform that it lacks (copied there by hand,
// or imported before the catalog existed), with Source SourceFoundOnDisk.
// It returns the entries it added.
func (im *Importer) ReconcileCatalog(ctx context.Context) ([]CatalogEntry, error) {
	dirs, err := os.ReadDir(im.platformsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reconcile catalog: %w", err)
	}
	var found []string
	for _, d := range dirs {
		if !d.IsDir() || !validBuild(d.Name()) {
			continue
		}
		fi, err := os.Stat(filepath.Join(im.platformsDir(), d.Name(), unixPath))
		if err == nil && fi.Mode().IsRegular() {
			found = append(found, d.Name())
		}
	}
	var added []CatalogEntry
	err = im.Store.Txn(ctx, func(tx store.Tx) error {
		added = added[:0]
		for _, b := range found {
			if _, ok, err := txEntry(tx, b); err != nil || ok {
				if err != nil {
					return err
				}
				continue
			}
			e := im.foundOnDisk(b)
			if err := txPut(tx, e); err != nil {
				return err
			}
			added = append(added, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile catalog: %w", err)
	}
	for _, e := range added {
		im.log().Info("platform found on disk added to the catalog", "build", e.Build)
	}
	return added, nil
}
