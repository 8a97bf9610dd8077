package smartos

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"rackboot/internal/durable"
)

// A Manifest lists every file of a platform tree as imported: the files a
// server that did not import the build fetches from one that did, and
// checks one by one. The catalog's SHA256 is the tarball's, which no server
// keeps after unpacking, so the manifest is what a copy is checked against.
type Manifest struct {
	// SHA256 is the hex SHA-256 of the JSON encoding of Files: one value
	// that names this exact tree (a forced re-import changes it).
	SHA256 string `json:"sha256"`
	// Bytes is the sum of the files' sizes.
	Bytes int64          `json:"bytes"`
	Files []ManifestFile `json:"files"`
}

// ManifestFile is one file, or symbolic link, of a platform tree.
type ManifestFile struct {
	// Path is below the build's directory, slash-separated:
	// "platform/i86pc/amd64/boot_archive".
	Path string `json:"path"`
	// Mode is the file's permission bits (0644, 0755).
	Mode uint32 `json:"mode,omitempty"`
	// Size and SHA256 (hex) of a regular file's content.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	// Link is a symbolic link's target (relative, inside the tree); a link
	// has no Size or SHA256.
	Link string `json:"link,omitempty"`
}

// maxManifestFiles bounds a manifest (a SmartOS platform has a dozen
// files), so that a catalog entry stays well within etcd's request size.
const maxManifestFiles = 5000

// localManifestName is the manifest's copy in each build's directory,
// written before the directory is renamed into place. The leading dot keeps
// it out of the manifest itself and out of what is served (bootfs).
const localManifestName = ".manifest.json"

// ComputeManifest reads the platform tree in buildDir (the directory
// holding platform/) and lists its files with their sizes and SHA-256.
// Names starting with "." are left out: they are never served, so no
// other server could fetch them.
func ComputeManifest(buildDir string) (*Manifest, error) {
	m := &Manifest{}
	err := filepath.WalkDir(buildDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == buildDir {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(buildDir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return nil
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			m.Files = append(m.Files, ManifestFile{Path: rel, Link: filepath.ToSlash(target)})
		case info.Mode().IsRegular():
			sum, n, err := hashFile(p)
			if err != nil {
				return err
			}
			m.Files = append(m.Files, ManifestFile{Path: rel, Mode: uint32(info.Mode().Perm()), Size: n, SHA256: sum})
			m.Bytes += n
		default:
			return fmt.Errorf("%s is a device, FIFO or socket: not part of a platform", rel)
		}
		if len(m.Files) > maxManifestFiles {
			return fmt.Errorf("more than %d files: not a SmartOS platform", maxManifestFiles)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", buildDir, err)
	}
	slices.SortFunc(m.Files, func(a, b ManifestFile) int { return strings.Compare(a.Path, b.Path) })
	m.SHA256 = m.sum()
	return m, nil
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// sum is the hex SHA-256 of the JSON encoding of m.Files.
func (m *Manifest) sum() string {
	b, _ := json.Marshal(m.Files) // a slice of plain structs: cannot fail
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Check verifies that the manifest is whole and safe to fetch by: its
// SHA256 is that of its files, Bytes their sum, every path is a clean
// relative path below platform/ with no hidden element, listed once, and
// every symbolic link stays inside the tree; the kernel and boot archive
// are listed.
func (m *Manifest) Check() error {
	if m == nil {
		return errors.New("no manifest")
	}
	if got := m.sum(); got != m.SHA256 {
		return fmt.Errorf("manifest corrupt: its files hash to %s, it says %s", got, m.SHA256)
	}
	if len(m.Files) > maxManifestFiles {
		return fmt.Errorf("manifest lists %d files, more than %d", len(m.Files), maxManifestFiles)
	}
	var total int64
	seen := map[string]bool{}
	for _, f := range m.Files {
		if !fs.ValidPath(f.Path) || !strings.HasPrefix(f.Path, "platform/") || seen[f.Path] {
			return fmt.Errorf("manifest: path %q is not a clean relative path below platform/, or is listed twice", f.Path)
		}
		seen[f.Path] = true
		for elem := range strings.SplitSeq(f.Path, "/") {
			if strings.HasPrefix(elem, ".") {
				return fmt.Errorf("manifest: path %q has a hidden element", f.Path)
			}
		}
		if f.Link != "" {
			j := path.Join(path.Dir(f.Path), f.Link)
			if path.IsAbs(f.Link) || !strings.HasPrefix(j, "platform/") {
				return fmt.Errorf("manifest: symbolic link %q points out of the platform (%q)", f.Path, f.Link)
			}
			continue
		}
		if f.Size < 0 || len(f.SHA256) != 64 || strings.Trim(f.SHA256, "0123456789abcdef") != "" {
			return fmt.Errorf("manifest: file %q has a bad size or SHA-256", f.Path)
		}
		total += f.Size
	}
	if total != m.Bytes {
		return fmt.Errorf("manifest: files add up to %d bytes, it says %d", total, m.Bytes)
	}
	for _, p := range []string{KernelFile, ArchiveFile} {
		if !seen[p] {
			return fmt.Errorf("manifest lists no %s: not a SmartOS platform", p)
		}
	}
	return nil
}

// readLocalManifest reads the manifest kept in a build's directory; a
// missing one is (nil, nil).
func readLocalManifest(buildDir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(buildDir, localManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(buildDir, localManifestName), err)
	}
	return &m, nil
}

// writeLocalManifest writes m into buildDir atomically (temporary file,
// fsync, rename, fsync of the directory).
func writeLocalManifest(buildDir string, m *Manifest) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(buildDir, ".manifest-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(buildDir, localManifestName)); err != nil {
		return err
	}
	return durable.Sync(buildDir)
}

// localManifest returns the manifest of the build in buildDir, computing
// and saving it when the directory has none (a build imported before
// manifests, or copied by hand).
func localManifest(buildDir string) (*Manifest, error) {
	m, err := readLocalManifest(buildDir)
	if err != nil || m != nil {
		return m, err
	}
	if m, err = ComputeManifest(buildDir); err != nil {
		return nil, err
	}
	if err := writeLocalManifest(buildDir, m); err != nil {
		return nil, fmt.Errorf("save the manifest of %s: %w", buildDir, err)
	}
	return m, nil
}
