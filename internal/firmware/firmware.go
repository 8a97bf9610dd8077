// Package firmware finds the iPXE builds that rackboot hands to PXE firmware.
//
// rackboot does not build iPXE: it uses the builds a distribution ships, so
// that no user has to compile iPXE with an embedded script as the seed's
// author did. Distributions name the same build differently; a Set maps the
// canonical names of pxe.BootFiles ("undionly.kpxe", "snponly.efi",
// "arm64/snponly.efi") to files on disk.
package firmware

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// SearchPath lists where builds are looked for, extra first: Debian's ipxe
// package installs to /usr/lib/ipxe, Fedora's ipxe-bootimgs to /usr/share/ipxe.
func SearchPath(extra string) []string {
	dirs := []string{"/usr/lib/ipxe", "/usr/share/ipxe", "/usr/local/share/ipxe"}
	if extra != "" {
		dirs = append([]string{extra}, dirs...)
	}
	return dirs
}

// aliases are other file names under which distributions ship a build.
var aliases = map[string][]string{
	"undionly.kpxe":     {"undionly.kpxe"},
	"undionly.kkpxe":    {"undionly.kkpxe"},
	"ipxe.pxe":          {"ipxe.pxe"},
	"snponly.efi":       {"snponly.efi", "ipxe-snponly-x86_64.efi", "x86_64-efi/snponly.efi"},
	"ipxe.efi":          {"ipxe.efi", "ipxe-x86_64.efi", "x86_64-efi/ipxe.efi"},
	"i386/snponly.efi":  {"i386/snponly.efi", "i386-efi/snponly.efi", "ipxe-snponly-i386.efi"},
	"i386/ipxe.efi":     {"i386/ipxe.efi", "i386-efi/ipxe.efi", "ipxe-i386.efi"},
	"arm64/snponly.efi": {"arm64/snponly.efi", "arm64-efi/snponly.efi", "ipxe-snponly-arm64.efi", "snp-arm64.efi"},
	"arm64/ipxe.efi":    {"arm64/ipxe.efi", "arm64-efi/ipxe.efi", "ipxe-arm64.efi"},
	"arm32/snponly.efi": {"arm32/snponly.efi", "arm32-efi/snponly.efi"},
	"arm32/ipxe.efi":    {"arm32/ipxe.efi", "arm32-efi/ipxe.efi"},
}

// Set is the iPXE builds found: canonical name to file path.
// It is an fs.FS holding just those files, for the TFTP and HTTP servers.
type Set map[string]string

// Find looks for every known build in dirs; the first directory that has a
// build wins for that build.
func Find(dirs []string) Set {
	s := Set{}
	for name, alts := range aliases {
		for _, dir := range dirs {
			if p, ok := firstRegular(dir, alts); ok {
				s[name] = p
				break
			}
		}
	}
	return s
}

func firstRegular(dir string, names []string) (string, bool) {
	for _, n := range names {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, true
		}
	}
	return "", false
}

// Has reports whether the build is available.
func (s Set) Has(name string) bool { _, ok := s[name]; return ok }

// Names lists the builds found, sorted.
func (s Set) Names() []string {
	var n []string
	for k := range s {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Open implements fs.FS.
func (s Set) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if p, ok := s[name]; ok {
		return os.Open(p)
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

// Hint tells a user without iPXE builds how to get them.
const Hint = "no iPXE builds found: install them (Debian/Ubuntu: apt-get install ipxe; " +
	"Fedora: dnf install ipxe-bootimgs-x86; FreeBSD: pkg install ipxe) or put " +
	"undionly.kpxe and snponly.efi in a directory given with --ipxe-dir"
