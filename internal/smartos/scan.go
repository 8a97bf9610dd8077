// Package smartos knows how SmartOS platform images are laid out in the data
// directory, how to list them, and how to write the kernel's -B boot
// arguments and root_shadow. It reads only the directory it is given.
//
// Layout, as in a platform tarball unpacked under its build id:
//
//	<data-dir>/smartos/<build>/platform/i86pc/kernel/amd64/unix
//	<data-dir>/smartos/<build>/platform/i86pc/amd64/boot_archive
//	<data-dir>/smartos/<build>/platform/i86pc/amd64/boot_archive.hash  (optional)
//
// Directories whose name starts with "." are imports in progress: an import
// writes into a temporary directory and renames it into place when complete.
package smartos

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// Paths of a platform's files below its build directory, in URL form.
const (
	KernelFile  = "platform/i86pc/kernel/amd64/unix"
	ArchiveFile = "platform/i86pc/amd64/boot_archive"
	HashFile    = ArchiveFile + ".hash"
)

// PlatformsSubdir is the directory below the data directory that holds the
// builds; it is also the first element of their URL paths.
const PlatformsSubdir = "smartos"

// Platform is one bootable SmartOS build found on disk.
type Platform struct {
	Build       string // "20130808T195337Z"
	Dir         string // the build directory on disk
	KernelPath  string // URL path below the server root: "smartos/<build>/platform/i86pc/kernel/amd64/unix"
	ArchivePath string // "smartos/<build>/platform/i86pc/amd64/boot_archive"
	HashPath    string // "smartos/<build>/platform/i86pc/amd64/boot_archive.hash", even when absent
	HasHash     bool
	Size        int64     // bytes a client downloads: kernel, archive and hash
	ModTime     time.Time // of the boot archive: when the platform was written
}

// SkippedDir is a directory Scan did not list, and why.
type SkippedDir struct {
	Name   string
	Dir    string
	Reason string
}

// ScanResult is what a scan found.
type ScanResult struct {
	Platforms []Platform   // newest first
	Skipped   []SkippedDir // in name order
}

// buildIDRe matches SmartOS build ids, which are UTC timestamps.
var buildIDRe = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z$`)

// safeBuildName is what a build directory may be called: its name goes into
// URLs and iPXE labels unescaped.
var safeBuildName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Scan lists the complete platforms under <dataDir>/smartos, newest first.
// A missing smartos directory is an empty list, not an error.
func Scan(dataDir string) ([]Platform, error) {
	r, err := ScanReport(dataDir)
	return r.Platforms, err
}

// ScanReport is Scan that also says which directories it left out and why.
func ScanReport(dataDir string) (ScanResult, error) {
	root := filepath.Join(dataDir, PlatformsSubdir)
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return ScanResult{}, nil
	}
	if err != nil {
		return ScanResult{}, fmt.Errorf("list SmartOS platforms: %w", err)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return ScanResult{}, fmt.Errorf("list SmartOS platforms: %w", err)
	}
	var r ScanResult
	for _, e := range entries {
		p, reason := inspectEntry(root, realRoot, e)
		switch {
		case reason != "":
			r.Skipped = append(r.Skipped, SkippedDir{Name: e.Name(), Dir: filepath.Join(root, e.Name()), Reason: reason})
		case p != nil:
			r.Platforms = append(r.Platforms, *p)
		}
	}
	SortNewestFirst(r.Platforms)
	return r, nil
}

// inspectEntry looks at one entry of the smartos directory. It returns a
// platform, or a reason to skip a directory, or neither for entries that are
// not directories at all (a downloaded tarball lying next to the builds).
func inspectEntry(root, realRoot string, e fs.DirEntry) (*Platform, string) {
	name := e.Name()
	dir := filepath.Join(root, name)
	info, err := os.Stat(dir) // follows symlinks: a build may live on another disk
	if err != nil {
		return nil, "unreadable: " + err.Error()
	}
	if !info.IsDir() {
		return nil, ""
	}
	switch {
	case name[0] == '.':
		return nil, "hidden: an import in progress, or one that was interrupted"
	case !safeBuildName.MatchString(name):
		return nil, "name has characters that are unsafe in URLs and iPXE labels (use letters, digits, '.', '_', '-')"
	}
	if e.Type()&fs.ModeSymlink != 0 {
		// A symlink to a sibling ("latest" -> 2024...) would list a build twice.
		if real, err := filepath.EvalSymlinks(dir); err == nil && filepath.Dir(real) == realRoot {
			return nil, "alias of " + filepath.Base(real) + ", which is listed under its own name"
		}
	}
	return platformAt(dir, name)
}

// platformAt checks that the files of a build are there and sizes them.
func platformAt(dir, build string) (*Platform, string) {
	p := &Platform{
		Build:       build,
		Dir:         dir,
		KernelPath:  path.Join(PlatformsSubdir, build, KernelFile),
		ArchivePath: path.Join(PlatformsSubdir, build, ArchiveFile),
		HashPath:    path.Join(PlatformsSubdir, build, HashFile),
	}
	for _, f := range []string{KernelFile, ArchiveFile} {
		fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, "incomplete: no " + f
		case err != nil:
			return nil, "unreadable: " + err.Error()
		case !fi.Mode().IsRegular():
			return nil, "incomplete: " + f + " is not a regular file"
		case fi.Size() == 0:
			return nil, "incomplete: " + f + " is empty"
		}
		p.Size += fi.Size()
		if f == ArchiveFile {
			p.ModTime = fi.ModTime()
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(HashFile))); err == nil && fi.Mode().IsRegular() {
		p.HasHash = true
		p.Size += fi.Size()
	}
	return p, ""
}

// SortNewestFirst orders platforms as menus list them: builds named by a
// timestamp, newest first (the ids sort as strings), then any other names in
// alphabetical order.
func SortNewestFirst(ps []Platform) {
	sort.SliceStable(ps, func(i, j int) bool { return newerBuild(ps[i].Build, ps[j].Build) })
}

func newerBuild(a, b string) bool {
	ta, tb := buildIDRe.MatchString(a), buildIDRe.MatchString(b)
	switch {
	case ta && tb:
		return a > b
	case ta != tb:
		return ta
	default:
		return a < b
	}
}

// IsBuildID reports whether s looks like a SmartOS build id (a UTC
// timestamp such as "20130808T195337Z").
func IsBuildID(s string) bool { return buildIDRe.MatchString(s) }
