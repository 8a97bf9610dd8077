// Package osimage imports operating system installers into the data
// directory for boot targets: a distribution's netboot tarball
// (netboot.tar.gz: Debian's debian-installer/<arch>/ layout, Ubuntu's
// <arch>/ layout) or an ISO image, whose kernel and initrd are taken out
// when the distribution netboots them that way (Ubuntu's casper), else
// kept whole for iPXE's sanboot.
//
// Each import lands in <data-dir>/os/<name>/ in one rename, with its
// catalog entry (rackboot-os.json: the source, its SHA-256, the layout and
// the files a target names) inside it, so the tree and its entry appear
// and disappear together. Nothing under os/ is served as such: a boot
// target names the files it boots, and only those are (internal/target,
// internal/bootfs).
package osimage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"rackboot/internal/download"
	"rackboot/internal/durable"
	"rackboot/internal/smartos"
)

// Subdir is the directory below the data directory that holds imports.
const Subdir = "os"

// CatalogFile is each import's catalog entry, inside its directory.
const CatalogFile = "rackboot-os.json"

// Layouts an import recognises.
const (
	LayoutDebianNetboot = "debian-netboot" // debian-installer/<arch>/{linux,initrd.gz}
	LayoutUbuntuNetboot = "ubuntu-netboot" // <arch>/{linux,initrd} (20.04 and later)
	LayoutUbuntuLive    = "ubuntu-live"    // an ISO with casper/{vmlinuz,initrd}: netbooted with url= of the ISO
	LayoutISO           = "iso"            // any other ISO: booted whole (sanboot)
)

// Entry is one imported OS: where it came from and what a target names.
// Paths are relative to the data directory, as targets write them.
type Entry struct {
	Name     string    `json:"name"`
	Layout   string    `json:"layout"`
	Arch     string    `json:"arch,omitempty"`
	Version  string    `json:"version,omitempty"` // "12 (bookworm)", when the import says
	Source   string    `json:"source"`
	SHA256   string    `json:"sha256"`
	Size     int64     `json:"size"`
	Imported time.Time `json:"imported"`
	Dir      string    `json:"dir"`
	Kernel   string    `json:"kernel,omitempty"`
	Initrds  []string  `json:"initrd,omitempty"`
	ISO      string    `json:"iso,omitempty"`
	// Shim and GRUB are the signed chain the tarball ships (Debian's
	// bootnetx64.efi and grubx64.efi), for secure_boot:; GRUBPrefix is
	// where that GRUB reads grub.cfg.
	Shim       string `json:"shim,omitempty"`
	GRUB       string `json:"grub,omitempty"`
	GRUBPrefix string `json:"grub_prefix,omitempty"`
}

// Options tune one Import.
type Options struct {
	Name   string // the directory under os/; "" derives one (debian-12-amd64)
	SHA256 string // expected hex digest of the tarball or ISO; "" checks nothing but records it
	Force  bool   // replace an import of the same name
}

// Event reports the progress of an import.
type Event struct {
	Phase string // "download", "verify", "unpack", "install"
	File  string
	Bytes int64
	Total int64 // -1 when unknown
}

// Importer imports into DataDir. Progress, when set, is told how far each
// phase has got, at most every half second and at each phase's end.
type Importer struct {
	DataDir    string
	HTTPClient *http.Client // nil: http.DefaultClient
	Progress   func(Event)
	Logger     *slog.Logger

	retryDelay time.Duration // between download attempts; 0: 1 s, 2 s, ...
}

func (im *Importer) log() *slog.Logger {
	if im.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return im.Logger
}

var sha256RE = regexp.MustCompile(`^[0-9A-Fa-f]{64}$`)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (im *Importer) osDir() string { return filepath.Join(im.DataDir, Subdir) }

// Import brings src (a file, or an http:// or https:// URL) into
// <data-dir>/os/<name>/.
func (im *Importer) Import(ctx context.Context, src string, opt Options) (Entry, error) {
	if opt.Name != "" && !nameRE.MatchString(opt.Name) {
		return Entry{}, fmt.Errorf("--name %q: letters, digits, '.', '_' and '-' only", opt.Name)
	}
	if opt.SHA256 != "" && !sha256RE.MatchString(opt.SHA256) {
		// Said before a download, not after it as a mismatch.
		return Entry{}, fmt.Errorf("--sha256 %q: want the 64 hex digits of a SHA-256 (sha256sum's first column)", opt.SHA256)
	}
	if err := os.MkdirAll(filepath.Join(im.osDir(), ".incoming"), 0o755); err != nil {
		return Entry{}, err
	}
	local, sum, size, downloaded, err := im.fetch(ctx, src)
	if err != nil {
		return Entry{}, err
	}
	if downloaded {
		defer download.Remove(local) // complete: installed, or refused for good
	}
	if want := strings.ToLower(opt.SHA256); want != "" && want != sum {
		return Entry{}, fmt.Errorf("%s: SHA-256 is %s, want %s: a damaged or different file (nothing was installed)", src, sum, want)
	}
	tmp, err := os.MkdirTemp(im.osDir(), ".tmp-")
	if err != nil {
		return Entry{}, err
	}
	defer os.RemoveAll(tmp) // after a successful install it is gone already
	e := Entry{Source: src, SHA256: sum, Size: size}
	if err := im.unpack(ctx, local, tmp, &e); err != nil {
		return Entry{}, fmt.Errorf("%s: %w", src, err)
	}
	if e.Name = opt.Name; e.Name == "" {
		e.Name = defaultName(e, src)
	}
	return im.install(tmp, e, opt.Force)
}

// unpack fills tmp from the file and finds its layout.
func (im *Importer) unpack(ctx context.Context, local, tmp string, e *Entry) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 2)
	if _, err := f.ReadAt(head, 0); err != nil {
		return fmt.Errorf("empty or unreadable: %w", err)
	}
	switch {
	case head[0] == 0x1f && head[1] == 0x8b:
		if err := im.untar(ctx, f, tmp); err != nil {
			return err
		}
		return netbootLayout(tmp, e)
	case smartos.IsISO(f):
		return im.importISO(ctx, f, local, tmp, e)
	}
	return errors.New("neither a netboot tarball (gzip) nor an ISO 9660 image")
}

// netbootLayout finds the kernel and initrd of an unpacked netboot tarball.
func netbootLayout(tmp string, e *Entry) error {
	exists := func(rel string) bool {
		fi, err := os.Stat(filepath.Join(tmp, rel))
		return err == nil && fi.Mode().IsRegular()
	}
	for _, arch := range []string{"amd64", "arm64", "i386", "ppc64el", "s390x"} {
		if d := "debian-installer/" + arch; exists(d + "/linux") {
			e.Layout, e.Arch = LayoutDebianNetboot, arch
			e.Kernel, e.Initrds = d+"/linux", []string{d + "/initrd.gz"}
			if !exists(e.Initrds[0]) {
				return fmt.Errorf("%s/linux without %s/initrd.gz", d, d)
			}
			if exists(d+"/bootnetx64.efi") && exists(d+"/grubx64.efi") {
				e.Shim, e.GRUB, e.GRUBPrefix = d+"/bootnetx64.efi", d+"/grubx64.efi", d+"/grub"
			}
			e.Version = debianVersion(tmp)
			return nil
		}
		if exists(arch+"/linux") && exists(arch+"/initrd") {
			e.Layout, e.Arch = LayoutUbuntuNetboot, arch
			e.Kernel, e.Initrds = arch+"/linux", []string{arch + "/initrd"}
			if exists(arch+"/bootx64.efi") && exists(arch+"/grubx64.efi") {
				e.Shim, e.GRUB, e.GRUBPrefix = arch+"/bootx64.efi", arch+"/grubx64.efi", "grub"
			}
			return nil
		}
	}
	return errors.New("no installer found: want debian-installer/<arch>/linux and initrd.gz (Debian) or <arch>/linux and initrd (Ubuntu)")
}

// debianVersion reads "Debian version:  12 (bookworm)" from version.info.
func debianVersion(tmp string) string {
	b, err := os.ReadFile(filepath.Join(tmp, "version.info"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Debian version:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// defaultName is debian-12-amd64, ubuntu-amd64, or the ISO's file name.
func defaultName(e Entry, src string) string {
	switch e.Layout {
	case LayoutDebianNetboot:
		if v, _, _ := strings.Cut(e.Version, " "); v != "" && nameRE.MatchString(v) {
			return "debian-" + v + "-" + e.Arch
		}
		return "debian-" + e.Arch
	case LayoutUbuntuNetboot:
		return "ubuntu-" + e.Arch
	}
	base := strings.TrimSuffix(path.Base(filepath.ToSlash(src)), ".iso")
	base = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '-'
	}, base)
	if !nameRE.MatchString(base) {
		return "iso"
	}
	return base
}

// install writes the catalog entry into tmp, makes it durable and renames
// it into place: a reader sees the old tree or the new one, never half.
func (im *Importer) install(tmp string, e Entry, force bool) (Entry, error) {
	final := filepath.Join(im.osDir(), e.Name)
	e.Dir = path.Join(Subdir, e.Name)
	e.Imported = time.Now().UTC().Truncate(time.Second)
	rel := func(p string) string {
		if p == "" {
			return ""
		}
		return path.Join(e.Dir, p)
	}
	e.Kernel, e.ISO, e.Shim, e.GRUB = rel(e.Kernel), rel(e.ISO), rel(e.Shim), rel(e.GRUB)
	for i := range e.Initrds {
		e.Initrds[i] = rel(e.Initrds[i])
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return Entry{}, err
	}
	// Synced with the rest of the tree just below.
	if err := os.WriteFile(filepath.Join(tmp, CatalogFile), append(b, '\n'), 0o644); err != nil {
		return Entry{}, err
	}
	im.report(Event{Phase: "install", File: e.Name, Total: -1})
	if err := durable.Tree(tmp, true); err != nil {
		return Entry{}, err
	}
	var old string
	if _, err := os.Stat(final); err == nil {
		if !force {
			return Entry{}, fmt.Errorf("%s is already imported at %s (--force replaces it)", e.Name, final)
		}
		old = filepath.Join(im.osDir(), ".old-"+e.Name+"-"+randHex())
		if err := os.Rename(final, old); err != nil {
			return Entry{}, err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		if old != "" {
			os.Rename(old, final) // put the previous import back
		}
		return Entry{}, err
	}
	if err := durable.Sync(im.osDir()); err != nil {
		return Entry{}, err
	}
	if old != "" {
		os.RemoveAll(old)
	}
	return e, nil
}

// Holds says whether file (a path on disk, as a target or secure_boot
// names it once resolved) lies in the import's tree, links followed.
func (e Entry) Holds(dataDir, file string) bool {
	dir := filepath.Join(dataDir, Subdir, e.Name)
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	if f, err := filepath.EvalSymlinks(file); err == nil {
		file = f
	}
	rel, err := filepath.Rel(dir, file)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Remove takes the import name out of the data directory: renamed aside
// first, so that its tree and catalog entry vanish in one step, then
// deleted. Only a directory with a catalog entry is removed.
func Remove(dataDir, name string) (Entry, error) {
	if !nameRE.MatchString(name) {
		return Entry{}, fmt.Errorf("%q: not an import's name (letters, digits, '.', '_' and '-')", name)
	}
	osDir := filepath.Join(dataDir, Subdir)
	b, err := os.ReadFile(filepath.Join(osDir, name, CatalogFile))
	if errors.Is(err, os.ErrNotExist) {
		return Entry{}, fmt.Errorf("%s is not imported (no %s): rackboot os list", name, filepath.Join(osDir, name, CatalogFile))
	}
	if err != nil {
		return Entry{}, err
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return Entry{}, fmt.Errorf("%s: %w", filepath.Join(osDir, name, CatalogFile), err)
	}
	e.Name = name
	old := filepath.Join(osDir, ".old-"+name+"-"+randHex())
	if err := os.Rename(filepath.Join(osDir, name), old); err != nil {
		return Entry{}, err
	}
	if err := durable.Sync(osDir); err != nil {
		return Entry{}, err
	}
	return e, os.RemoveAll(old)
}

// List reads every import's catalog entry, by name.
func List(dataDir string) ([]Entry, error) {
	dirs, err := os.ReadDir(filepath.Join(dataDir, Subdir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, d := range dirs {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dataDir, Subdir, d.Name(), CatalogFile))
		if err != nil {
			continue // not one of ours
		}
		var e Entry
		if json.Unmarshal(b, &e) == nil {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (im *Importer) report(ev Event) {
	if im.Progress != nil {
		im.Progress(ev)
	}
}

func randHex() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Suggestion is the configuration an import suggests: a target, and the
// signed chain for secure_boot: when the import has one.
type Suggestion struct {
	Targets    []map[string]any `yaml:"targets"`
	SecureBoot map[string]any   `yaml:"secure_boot,omitempty"`
}

// Suggest is the target that boots e (a linux target, or an iso target
// for an ISO booted whole).
func (e Entry) Suggest() Suggestion {
	t := map[string]any{"id": e.Name, "title": e.Name}
	switch e.Layout {
	case LayoutDebianNetboot, LayoutUbuntuNetboot:
		linux := map[string]any{"kernel": e.Kernel, "initrd": e.Initrds, "cmdline": "priority=low"}
		if e.Shim != "" {
			linux["secure_boot"] = true
		}
		t["linux"] = linux
	case LayoutUbuntuLive:
		t["linux"] = map[string]any{"kernel": e.Kernel, "initrd": e.Initrds,
			"cmdline": "ip=dhcp url=http://<rackboot address>/targets/" + e.Name + "-iso/" + path.Base(e.ISO)}
		iso := map[string]any{"id": e.Name + "-iso", "title": e.Name + " (whole ISO)", "iso": map[string]any{"file": e.ISO}}
		return Suggestion{Targets: []map[string]any{t, iso}}
	default:
		t["iso"] = map[string]any{"file": e.ISO}
	}
	s := Suggestion{Targets: []map[string]any{t}}
	if e.Shim != "" {
		s.SecureBoot = map[string]any{"shim": e.Shim, "grub": e.GRUB, "grub_prefix": e.GRUBPrefix}
	}
	return s
}
