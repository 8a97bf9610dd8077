package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// options say what to package and where from.
type options struct {
	Version  string // as git describe says it: v1.2.0, v1.2.0-3-gabc1234, abc1234-dirty
	Date     string // RFC 3339; dates versions without a tag
	DocsFrom string
	Docs     string // generateDocs' directory: man1/, completions/
	Source   string // packaging/
	Readme   string
	Out      string
}

// Paths in the package. The unit goes to /usr/lib/systemd/system, which
// systemd reads on every Debian and Ubuntu with systemd.
const (
	unitPath   = "/usr/lib/systemd/system/rackboot.service"
	configPath = "/etc/rackboot/rackboot.yaml"
)

// build writes <out>/rackboot_<version>_<arch>.deb with binary as
// /usr/bin/rackboot, and returns its path.
func build(o options, arch, binary string) (string, error) {
	version, err := debianVersion(o.Version, o.Date)
	if err != nil {
		return "", err
	}
	src := func(p string) string { return filepath.Join(o.Source, p) }
	file := func(from, to string, mode os.FileMode) *files.Content {
		return &files.Content{Source: from, Destination: to, FileInfo: &files.ContentFileInfo{Mode: mode, Owner: "root", Group: "root"}}
	}
	contents := files.Contents{
		file(binary, "/usr/bin/rackboot", 0o755),
		file(src("debian/rackboot.service"), unitPath, 0o644),
		file(o.Readme, "/usr/share/doc/rackboot/README.md", 0o644),
		// A conffile: dpkg keeps the admin's edits on upgrade (and asks
		// when both sides changed it), and purge removes it. 0640: it may
		// hold root passwords; postinst gives it the rackboot group.
		{Source: src("debian/rackboot.yaml"), Destination: configPath, Type: files.TypeConfigNoReplace,
			FileInfo: &files.ContentFileInfo{Mode: 0o640, Owner: "root", Group: "root"}},
		file(filepath.Join(o.Docs, "completions/rackboot.bash"), "/usr/share/bash-completion/completions/rackboot", 0o644),
		file(filepath.Join(o.Docs, "completions/_rackboot"), "/usr/share/zsh/vendor-completions/_rackboot", 0o644),
		file(filepath.Join(o.Docs, "completions/rackboot.fish"), "/usr/share/fish/vendor_completions.d/rackboot.fish", 0o644),
	}
	pages, err := filepath.Glob(filepath.Join(o.Docs, "man1", "*.1.gz"))
	if err != nil || len(pages) == 0 {
		return "", fmt.Errorf("no man pages in %s/man1", o.Docs)
	}
	for _, p := range pages {
		contents = append(contents, file(p, "/usr/share/man/man1/"+filepath.Base(p), 0o644))
	}
	mtime, err := sourceTime(o.Date)
	if err != nil {
		return "", err
	}
	info := &nfpm.Info{
		Name:          "rackboot",
		Arch:          arch,
		Platform:      "linux",
		Version:       version,
		VersionSchema: "none", // debianVersion made it already
		Section:       "net",
		Priority:      "optional",
		Maintainer:    "rackboot developers <rackboot@localhost>",
		Homepage:      "https://github.com/rackboot/rackboot",
		License:       "MIT",
		Description: "network boot server: proxyDHCP, TFTP, HTTP and iPXE menus in one binary\n" +
			"rackboot network-boots racks of machines beside the DHCP server you already\n" +
			"have (or as the network's DHCP server): PXE firmware gets iPXE over TFTP,\n" +
			"iPXE gets a menu of the SmartOS platforms and memtest86+ over HTTP.",
		MTime: mtime,
		Overridables: nfpm.Overridables{
			// ipxe: the iPXE builds served to PXE firmware
			// (/usr/lib/ipxe/undionly.kpxe, snponly.efi, ...).
			Depends:    []string{"ipxe"},
			Recommends: []string{"memtest86+"},
			Contents:   contents,
			Scripts: nfpm.Scripts{
				PostInstall: src("debian/postinst"),
				PreRemove:   src("debian/prerm"),
				PostRemove:  src("debian/postrm"),
			},
		},
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", fmt.Errorf("%s: %w", arch, err)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(o.Out, fmt.Sprintf("rackboot_%s_%s.deb", version, arch))
	var buf bytes.Buffer
	if err := deb.Default.Package(info, &buf); err != nil {
		return "", fmt.Errorf("%s: %w", arch, err)
	}
	return path, os.WriteFile(path, buf.Bytes(), 0o644)
}

var (
	// v1.2.0, v1.2.0-3-gabc1234, 1.2.0-rc1 (git describe on a tag)
	tagged = regexp.MustCompile(`^v?([0-9]+(?:\.[0-9]+)*)(-rc[0-9]+)?(?:-([0-9]+)-g([0-9a-f]+))?(-dirty)?$`)
	// abc1234, abc1234-dirty (git describe --always without a tag)
	untagged = regexp.MustCompile(`^([0-9a-f]{7,40})(-dirty)?$`)
)

// debianVersion turns git describe's output into a version dpkg orders
// right (deb-version(7)): a release candidate before its release (~rc1),
// commits after a tag after it (+git3.gabc1234), and a tree without tags
// as 0.0~git<date>.<commit>, ordered by the commit's date.
func debianVersion(describe, date string) (string, error) {
	if m := tagged.FindStringSubmatch(describe); m != nil {
		v := m[1]
		if m[2] != "" {
			v += "~" + m[2][1:]
		}
		if m[3] != "" {
			v += "+git" + m[3] + ".g" + m[4]
		}
		if m[5] != "" {
			v += "+dirty"
		}
		return v, nil
	}
	if m := untagged.FindStringSubmatch(describe); m != nil {
		t, err := sourceTime(date)
		if err != nil {
			return "", err
		}
		v := "0.0~git" + t.UTC().Format("20060102.150405") + "." + m[1]
		if m[2] != "" {
			v += "+dirty"
		}
		return v, nil
	}
	return "", fmt.Errorf("version %q: want git describe's output (v1.2.0, v1.2.0-3-gabc1234, abc1234)", describe)
}

// sourceTime is the date given (RFC 3339), or now.
func sourceTime(date string) (time.Time, error) {
	if date == "" {
		return time.Now().UTC().Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, date)
	if err != nil {
		return t, fmt.Errorf("date %q: %w", date, err)
	}
	return t, nil
}

// generateDocs runs rackboot to write its man pages (gzipped, as Debian
// ships them) and shell completions into a new directory.
func generateDocs(rackboot string) (string, error) {
	dir, err := os.MkdirTemp("", "rackboot-docs-")
	if err != nil {
		return "", err
	}
	fail := func(err error) (string, error) {
		os.RemoveAll(dir)
		return "", err
	}
	man := filepath.Join(dir, "man1")
	if out, err := exec.Command(rackboot, "man-pages", man).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("%s man-pages: %v: %s", rackboot, err, out))
	}
	pages, _ := filepath.Glob(filepath.Join(man, "*.1"))
	for _, p := range pages {
		if err := gzipFile(p); err != nil {
			return fail(err)
		}
	}
	comp := filepath.Join(dir, "completions")
	if err := os.Mkdir(comp, 0o755); err != nil {
		return fail(err)
	}
	for shell, name := range map[string]string{"bash": "rackboot.bash", "zsh": "_rackboot", "fish": "rackboot.fish"} {
		out, err := exec.Command(rackboot, "completion", shell).Output()
		if err != nil {
			return fail(fmt.Errorf("%s completion %s: %w", rackboot, shell, err))
		}
		if err := os.WriteFile(filepath.Join(comp, name), out, 0o644); err != nil {
			return fail(err)
		}
	}
	return dir, nil
}

// gzipFile replaces p with p.gz, compressed at the best level and without
// a name or time in the header, so that the package is reproducible.
func gzipFile(p string) error {
	in, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	zw.Write(in)
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(p+".gz", b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Remove(p)
}
