// Package bootfs is the one file system rackboot serves to the boot network,
// over TFTP and HTTP alike, and the rule that decides what is in it.
//
// The boot network is untrusted: anyone who can plug in a machine can ask
// for any name. The data directory holds secrets beside the platforms (the
// API token, the store with its password hashes and leases, serve.json,
// partial downloads), so bootfs serves by allowlist, not by denylist:
//
//   - the iPXE builds and memtest images, by their canonical names;
//   - the trees mounted explicitly (rackboot mounts <data-dir>/smartos at
//     smartos/ and the operator's <data-dir>/public at the root);
//   - nothing else: a name outside every mount does not exist.
//
// Each mount is an os.Root, so a symbolic link or ".." cannot lead out of it
// (the kernel-side walk refuses it), and within a mount no path element may
// start with "." (import scratch directories, partial downloads, editor and
// VCS files). A symbolic link inside a mount is followed by hand and the
// rule is applied to where it leads, so a link cannot name a hidden file
// either.
package bootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync/atomic"
)

// ErrNotServed is wrapped, together with fs.ErrNotExist, by the error of a
// name the rule refuses: to the network a file that is not served does not
// exist, whatever is on disk.
var ErrNotServed = errors.New("not served to the boot network")

// Mount is a directory served under a name prefix: Prefix "smartos" serves
// Dir/x/y as smartos/x/y; the empty prefix serves Dir at the root.
type Mount struct {
	Prefix string
	Dir    string
}

// FS is what TFTP and HTTP serve. Files it opens from mounts are *os.File,
// so HTTP bodies still go out with sendfile.
type FS struct {
	builds  fs.FS // iPXE builds and memtest, by canonical name; wins over mounts
	mounts  []mount
	refused atomic.Int64
}

type mount struct {
	prefix string // "" or "smartos" (no slashes at either end)
	root   *os.Root
}

// New serves builds by name and each mount under its prefix. Mounts are
// tried longest prefix first, so the root mount comes last. A mount's
// directory is created if missing.
func New(builds fs.FS, mounts ...Mount) (*FS, error) {
	f := &FS{builds: builds}
	for _, m := range mounts {
		prefix := strings.Trim(m.Prefix, "/")
		if prefix != "" && !Servable(prefix) {
			f.Close()
			return nil, fmt.Errorf("bootfs: mount prefix %q is not a servable name", m.Prefix)
		}
		if err := os.MkdirAll(m.Dir, 0o755); err != nil {
			f.Close()
			return nil, fmt.Errorf("bootfs: %w", err)
		}
		root, err := os.OpenRoot(m.Dir)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("bootfs: %w", err)
		}
		f.mounts = append(f.mounts, mount{prefix: prefix, root: root})
	}
	// Longest prefix first: "smartos/x" goes to the smartos mount even
	// when a root mount could hold a directory of that name.
	for i := 1; i < len(f.mounts); i++ {
		for j := i; j > 0 && len(f.mounts[j].prefix) > len(f.mounts[j-1].prefix); j-- {
			f.mounts[j], f.mounts[j-1] = f.mounts[j-1], f.mounts[j]
		}
	}
	return f, nil
}

// Close releases the mounts.
func (f *FS) Close() error {
	var errs []error
	for _, m := range f.mounts {
		errs = append(errs, m.root.Close())
	}
	return errors.Join(errs...)
}

// Refused is how many opens the rule has refused since New: names of
// hidden files, names outside every mount, links that lead to either.
func (f *FS) Refused() int64 { return f.refused.Load() }

// Servable reports whether name, an fs.FS path, may be served at all: a
// valid path, not ".", with no element starting with "." (hidden files,
// import scratch directories .tmp-*, partial downloads under .incoming).
// It is the first half of the rule; the second is that the name lies in a
// mount.
func Servable(name string) bool { return refusal(name) == "" }

// refusal says why name is refused, or "" if it is servable.
func refusal(name string) string {
	if !fs.ValidPath(name) || name == "." {
		return "not a clean relative path"
	}
	for elem := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(elem, ".") {
			return "hidden path element " + elem
		}
	}
	return ""
}

// Open opens name for reading: a build by its name, else the file in the
// mount whose prefix name starts with.
func (f *FS) Open(name string) (fs.File, error) {
	if why := refusal(name); why != "" {
		return nil, f.refuse(name, why)
	}
	if f.builds != nil {
		file, err := f.builds.Open(name)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return file, err
		}
	}
	root, resolved, err := f.locate(name)
	if err != nil {
		return nil, err
	}
	file, err := root.Open(resolved)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return file, nil
}

// Stat describes name as Open would find it, without opening it: TFTP
// stats before it opens (fs.Stat), so that a FIFO is refused, not opened.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	if why := refusal(name); why != "" {
		return nil, f.refuse(name, why)
	}
	if f.builds != nil {
		fi, err := fs.Stat(f.builds, name)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return fi, err
		}
	}
	root, resolved, err := f.locate(name)
	if err != nil {
		return nil, err
	}
	fi, err := root.Stat(resolved)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return fi, nil
}

// locate finds servable name in a mount: the mount's root and the name
// within it with every symbolic link resolved (and judged by the rule).
func (f *FS) locate(name string) (*os.Root, string, error) {
	for _, m := range f.mounts {
		rel, ok := m.within(name)
		if !ok {
			continue
		}
		resolved, err := resolve(m.root, rel)
		if err != nil {
			if errors.Is(err, ErrNotServed) {
				f.refused.Add(1)
			}
			return nil, "", &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return m.root, resolved, nil
	}
	return nil, "", f.refuse(name, "outside every served directory")
}

func (f *FS) refuse(name, why string) error {
	f.refused.Add(1)
	return &fs.PathError{Op: "open", Path: name, Err: notServed(why)}
}

// notServed is an error that is both ErrNotServed and fs.ErrNotExist.
func notServed(why string) error {
	return fmt.Errorf("%w (%s): %w", ErrNotServed, why, fs.ErrNotExist)
}

// within returns name relative to the mount, if it is in it.
func (m mount) within(name string) (string, bool) {
	if m.prefix == "" {
		return name, true
	}
	rest, ok := strings.CutPrefix(name, m.prefix)
	if !ok || rest == "" || rest[0] != '/' || len(rest) == 1 {
		return "", false
	}
	return rest[1:], true
}

// maxLinks bounds how many symbolic links one name may pass through, as
// the kernel's own MAXSYMLINKS (40 on Linux) does.
const maxLinks = 40

// resolve follows the symbolic links of rel inside root by hand and returns
// a name with none left, checking the rule at every step: a link inside a
// mount may not lead to a hidden element, and never out of the mount (a
// target that climbs above the mount's top is refused here; os.Root would
// refuse it too).
func resolve(root *os.Root, rel string) (string, error) {
	links := 0
	elems := strings.Split(rel, "/")
	for i := 0; i < len(elems); i++ {
		cur := path.Join(elems[:i+1]...)
		fi, err := root.Lstat(cur)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if links++; links > maxLinks {
			return "", notServed("too many symbolic links")
		}
		target, err := root.Readlink(cur)
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			return "", notServed("symbolic link to an absolute path")
		}
		next := path.Join(path.Dir(cur), target)
		if next == ".." || strings.HasPrefix(next, "../") {
			return "", notServed("symbolic link out of the served directory")
		}
		rest := append(strings.Split(next, "/"), elems[i+1:]...)
		if next == "." {
			rest = elems[i+1:]
		}
		if why := refusal(path.Join(rest...)); why != "" && len(rest) > 0 {
			// The link's target is judged like a requested name.
			return "", notServed("symbolic link to a " + why)
		}
		elems, i = rest, -1
	}
	if len(elems) == 0 {
		return "", notServed("the top of the served directory")
	}
	return path.Join(elems...), nil
}

// PublicDir is the directory under the data directory whose files the
// operator wants served at the root of TFTP and HTTP (a GRUB, a
// pxelinux.0, an ISO): rackboot mounts <data-dir>/public there.
const PublicDir = "public"

// Unserved lists what dir holds at its top that no mount serves and that is
// not one of the known names (rackboot's own state files): before the
// allowlist, every file in the data directory was served, so an operator's
// file at the top is no longer reachable and should move to PublicDir.
// Mounted directories, hidden entries and known names are left out.
func Unserved(dir string, mounted []string, known ...string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	skip := map[string]bool{}
	for _, n := range append(mounted, known...) {
		skip[n] = true
	}
	var out []string
	for _, e := range entries {
		if !skip[e.Name()] && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
