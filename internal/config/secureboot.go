package config

import (
	"fmt"
	"path"
	"strings"
)

// DebianNetbootDir is where Debian's debian-installer-12-netboot-amd64
// package puts the signed network boot chain (and the installer).
const DebianNetbootDir = "/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64"

// SecureBoot names the signed boot chain rackboot gives machines that boot
// UEFI with Secure Boot on (a machine's secure_boot setting or a rule's):
// the distribution's shim, signed by Microsoft's UEFI CA, and its network
// GRUB, signed by the distribution, which shim verifies and which verifies
// the kernel through shim.
type SecureBoot struct {
	// Shim and GRUB are files on this host; relative names are below
	// data_dir (what rackboot os import put there).
	Shim string `yaml:"shim"` // served by its base name; the DHCP boot file of such machines
	GRUB string `yaml:"grub"` // served as grubx64.efi at the TFTP root, where shim asks for it
	// GRUBPrefix is the directory this GRUB reads grub.cfg from, built
	// into the image: Debian's is debian-installer/amd64/grub.
	GRUBPrefix string `yaml:"grub_prefix"`
}

// DefaultSecureBoot is Debian's netboot package's chain.
func DefaultSecureBoot() SecureBoot {
	return SecureBoot{Shim: DebianNetbootDir + "/bootnetx64.efi", GRUB: DebianNetbootDir + "/grubx64.efi",
		GRUBPrefix: "debian-installer/amd64/grub"}
}

func (s *SecureBoot) validate() error {
	for key, p := range map[string]string{"shim": s.Shim, "grub": s.GRUB} {
		if c := path.Clean(p); p != "" && !path.IsAbs(p) && (c == ".." || strings.HasPrefix(c, "../")) {
			return fmt.Errorf("secure_boot.%s: %q leads out of data_dir: give an absolute path", key, p)
		}
	}
	p := strings.Trim(s.GRUBPrefix, "/")
	if s.GRUB != "" && (p == "" || path.Clean(p) != p || strings.HasPrefix(p, "..") || strings.Contains("/"+p, "/.")) {
		return fmt.Errorf("secure_boot.grub_prefix: %q: the directory GRUB reads grub.cfg from, like debian-installer/amd64/grub", s.GRUBPrefix)
	}
	s.GRUBPrefix = p
	return nil
}
