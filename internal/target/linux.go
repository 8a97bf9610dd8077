package target

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"rackboot/internal/ipxe"
	"rackboot/internal/pxe"
)

func init() {
	register(Kind{Name: "linux", Firmware: "BIOS, UEFI (x86_64, arm64), Secure Boot when secure_boot: true",
		Doc:    "a Linux kernel, its initrds and command line: {kernel, initrd: [...], cmdline, secure_boot}",
		Decode: decodeLinux})
}

// Linux boots a kernel with initrds and a command line: iPXE's
// kernel/initrd/boot, or the signed GRUB's linux/initrd on a Secure Boot
// machine.
type Linux struct {
	Header
	Kernel  File
	Initrds []File
	Cmdline string
	// Signed: the kernel is signed by the distribution whose shim and GRUB
	// Secure Boot machines get (Debian's netboot kernel is), so the item is
	// offered to them too.
	Signed bool
}

type linuxSpec struct {
	Kernel     string   `yaml:"kernel"`
	Initrd     []string `yaml:"initrd"`
	Cmdline    string   `yaml:"cmdline"`
	SecureBoot bool     `yaml:"secure_boot"`
}

func decodeLinux(h Header, body *yaml.Node, dataDir string) (Target, error) {
	var s linuxSpec
	if err := decodeStrict(body, &s); err != nil {
		return nil, err
	}
	t := &Linux{Header: h, Cmdline: strings.Join(strings.Fields(s.Cmdline), " "), Signed: s.SecureBoot}
	k, err := localFile(s.Kernel, dataDir)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	t.Kernel = File{Name: servedName(h.ID, k), Path: k, Role: RoleKernel}
	names := map[string]bool{t.Kernel.Name: true}
	for i, in := range s.Initrd {
		p, err := localFile(in, dataDir)
		if err != nil {
			return nil, fmt.Errorf("initrd[%d]: %w", i, err)
		}
		f := File{Name: servedName(h.ID, p), Path: p, Role: RoleInitrd}
		if names[f.Name] {
			// Two files of one name (initrd.gz of two trees): the
			// second is served under its position.
			f.Name = fmt.Sprintf("targets/%s/%d-%s", h.ID, i, filepath.Base(p))
		}
		names[f.Name] = true
		t.Initrds = append(t.Initrds, f)
	}
	// The command line is one iPXE word list: no "${" (iPXE would expand
	// it) and nothing iPXE reads as an operator or a comment.
	if err := ipxe.New(ipxe.Kernel("http://x/k", strings.Fields(t.Cmdline)...)).Validate(); err != nil {
		return nil, fmt.Errorf("cmdline %q: %w", s.Cmdline, err)
	}
	if strings.ContainsAny(t.Cmdline, "\"'\\;$") {
		return nil, fmt.Errorf("cmdline %q: quotes, backslashes, ';' and '$' mean different things to iPXE and GRUB; leave them out", s.Cmdline)
	}
	return t, nil
}

func (t *Linux) ID() string    { return t.Header.ID }
func (t *Linux) Title() string { return t.Header.Title }

// Offered: any x86_64, i386 or arm64 firmware (the kernel's own
// architecture is the operator's to match), and Secure Boot only when the
// kernel is signed for the shim rackboot serves.
func (t *Linux) Offered(c Client) error {
	if c.SecureBoot && !t.Signed {
		return errNotOffered("needs Secure Boot off (its kernel is not marked secure_boot: true)")
	}
	if c.Arch.Firmware == pxe.UEFI && c.Arch.CPU == "arm32" {
		return errNotOffered("no 32-bit ARM UEFI kernel")
	}
	return nil
}

// IPXE fetches the kernel and initrds and boots. On UEFI, iPXE builds
// before 2023 hand initrds to the kernel's EFI stub only by name, through
// "initrd=<name>" on the command line (iPXE's docs, "kernel" command), so
// every initrd is named there; a BIOS kernel ignores those words.
func (t *Linux) IPXE(l Loader, _ Client) []ipxe.Stmt {
	args := []string{}
	for _, in := range t.Initrds {
		args = append(args, "initrd="+filepath.Base(in.Name))
	}
	args = append(args, strings.Fields(t.Cmdline)...)
	body := []ipxe.Stmt{ipxe.Echo("Booting " + t.Title()), ipxe.Imgfree(),
		ipxe.Kernel(l.URL(t.Kernel.Name), args...).OrGoto("failed")}
	for _, in := range t.Initrds {
		body = append(body, ipxe.Initrd(l.URL(in.Name)).OrGoto("failed"))
	}
	return append(body, ipxe.Boot().OrGoto("failed"))
}

// GRUB is the menuentry body for the signed GRUB: "linux" (checked by
// shim's protocol against the distribution's key) and "initrd".
func (t *Linux) GRUB(root string) []string {
	line := "linux " + root + "/" + t.Kernel.Name
	for _, w := range strings.Fields(t.Cmdline) {
		line += " " + grubWord(w)
	}
	lines := []string{line}
	if len(t.Initrds) > 0 {
		line := "initrd"
		for _, in := range t.Initrds {
			line += " " + root + "/" + in.Name
		}
		lines = append(lines, line)
	}
	return lines
}

// grubPlain is a word GRUB's lexer reads as itself: anything else (|, &,
// <, >, {, }, ]], which iPXE takes literally) would be an operator, a
// block or a syntax error that loses the whole grub.cfg, so such a word
// is single-quoted (quotes, '\\' and '$' are refused in a cmdline).
var grubPlain = regexp.MustCompile(`^[A-Za-z0-9_.,:=/+@%~^!-]+$`)

func grubWord(w string) string {
	if grubPlain.MatchString(w) {
		return w
	}
	return "'" + w + "'"
}

func (t *Linux) Files() []File { return append([]File{t.Kernel}, t.Initrds...) }
