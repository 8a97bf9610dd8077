package pxe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Feature is one of iPXE's DHCP feature flags: a sub-option of option 175
// (iPXE's encapsulated options) in the range 0x10-0x7f whose one-byte value
// (the feature's version: 1, 2 for PXEXT) says the build has the feature. The tags are those of
// iPXE's include/ipxe/features.h; FeatureMultiboot2 is TritonDataCenter/ipxe's
// addition, the build MNX/Triton boot SmartOS with on UEFI.
type Feature uint8

const (
	FeaturePXEExt     Feature = 0x10 // PXE API extensions ("PXEXT")
	FeatureISCSI      Feature = 0x11
	FeatureAoE        Feature = 0x12
	FeatureHTTP       Feature = 0x13
	FeatureHTTPS      Feature = 0x14
	FeatureTFTP       Feature = 0x15
	FeatureFTP        Feature = 0x16
	FeatureDNS        Feature = 0x17
	FeatureBzImage    Feature = 0x18
	FeatureMultiboot  Feature = 0x19 // multiboot (1) images: upstream, BIOS builds only
	FeatureSLAM       Feature = 0x1a
	FeatureSRP        Feature = 0x1b
	FeatureNBI        Feature = 0x20
	FeaturePXE        Feature = 0x21 // PXE images (chainloading an NBP)
	FeatureELF        Feature = 0x22
	FeatureCOMBOOT    Feature = 0x23
	FeatureEFI        Feature = 0x24 // EFI images
	FeatureFCoE       Feature = 0x25
	FeatureVLAN       Feature = 0x26
	FeatureMenu       Feature = 0x27
	FeatureSDI        Feature = 0x28
	FeatureNFS        Feature = 0x29
	FeatureMultiboot2 Feature = 0x2a // multiboot2 images: TritonDataCenter/ipxe ("MBOOT2")

	featureMin Feature = 0x10
	featureMax Feature = 0x7f
)

// featureNames are our names for the flags (lower case, used in URLs and on
// the command line) and the names iPXE prints in its banner, also accepted.
var featureNames = map[Feature][2]string{
	FeaturePXEExt: {"pxe-ext", "PXEXT"}, FeatureISCSI: {"iscsi", "iSCSI"}, FeatureAoE: {"aoe", "AoE"},
	FeatureHTTP: {"http", "HTTP"}, FeatureHTTPS: {"https", "HTTPS"}, FeatureTFTP: {"tftp", "TFTP"},
	FeatureFTP: {"ftp", "FTP"}, FeatureDNS: {"dns", "DNS"}, FeatureBzImage: {"bzimage", "bzImage"},
	FeatureMultiboot: {"multiboot", "Multiboot"}, FeatureSLAM: {"slam", "SLAM"}, FeatureSRP: {"srp", "SRP"},
	FeatureNBI: {"nbi", "NBI"}, FeaturePXE: {"pxe", "PXE"}, FeatureELF: {"elf", "ELF"},
	FeatureCOMBOOT: {"comboot", "COMBOOT"}, FeatureEFI: {"efi", "EFI"}, FeatureFCoE: {"fcoe", "FCoE"},
	FeatureVLAN: {"vlan", "VLAN"}, FeatureMenu: {"menu", "Menu"}, FeatureSDI: {"sdi", "SDI"},
	FeatureNFS: {"nfs", "NFS"}, FeatureMultiboot2: {"multiboot2", "MBOOT2"},
}

// String is the feature's name, or its tag in hex ("0x2b") for one we do
// not know.
func (f Feature) String() string {
	if n, ok := featureNames[f]; ok {
		return n[0]
	}
	return fmt.Sprintf("0x%02x", uint8(f))
}

// ParseFeature reads a feature's name (ours or iPXE's, in any case) or its
// tag ("0x2a", "42").
func ParseFeature(s string) (Feature, error) {
	for f, n := range featureNames {
		if strings.EqualFold(s, n[0]) || strings.EqualFold(s, n[1]) {
			return f, nil
		}
	}
	if v, err := strconv.ParseUint(s, 0, 8); err == nil && Feature(v) >= featureMin && Feature(v) <= featureMax {
		return Feature(v), nil
	}
	return 0, fmt.Errorf("unknown iPXE feature %q (want a name such as multiboot2, https, efi, or a tag 0x10-0x7f)", s)
}

// ParseFeatureList reads names separated by commas (and blanks); an empty
// list is the empty set.
func ParseFeatureList(s string) (Features, error) {
	var fs Features
	for _, name := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		f, err := ParseFeature(name)
		if err != nil {
			return Features{}, err
		}
		fs = fs.With(f)
	}
	return fs, nil
}

// Features is the set of feature flags an iPXE build advertised. The zero
// value is the empty set (no option 175, or a client that is not iPXE).
type Features struct {
	bits [2]uint64 // bit n is tag n, 0-127
}

// NewFeatures is the set of fs.
func NewFeatures(fs ...Feature) Features {
	var s Features
	for _, f := range fs {
		s = s.With(f)
	}
	return s
}

// Has reports whether f is in the set.
func (s Features) Has(f Feature) bool {
	return f <= featureMax && s.bits[f/64]&(1<<(f%64)) != 0
}

// With is the set with f added; tags outside 0x10-0x7f are not features
// and are left out.
func (s Features) With(f Feature) Features {
	if f >= featureMin && f <= featureMax {
		s.bits[f/64] |= 1 << (f % 64)
	}
	return s
}

// Empty reports whether the set has no feature.
func (s Features) Empty() bool { return s.bits == [2]uint64{} }

// List is the features in tag order.
func (s Features) List() []Feature {
	var out []Feature
	for f := featureMin; f <= featureMax; f++ {
		if s.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// Names is the features' names in tag order.
func (s Features) Names() []string {
	var out []string
	for _, f := range s.List() {
		out = append(out, f.String())
	}
	return out
}

// String is the names joined by commas ("" for none): the form
// ParseFeatureList reads and the menu URL carries.
func (s Features) String() string { return strings.Join(s.Names(), ",") }

// ErrIPXEOptions is what ParseIPXEOptions returns for bytes that are not a
// well-formed run of DHCP options.
var ErrIPXEOptions = errors.New("malformed iPXE option 175")

// ParseIPXEOptions reads the feature flags out of option 175's contents, a
// run of DHCP options (RFC 2132 §2 encoding: tag, length, value; 0 pads, 255
// ends). A flag counts when its sub-option holds a non-zero one-byte value,
// as iPXE sends. Other sub-options (0xeb version, 0xb1 bus id, 0xbd
// SAN drive...) are skipped. On malformed input it returns the flags read
// before the fault and an error wrapping ErrIPXEOptions; it never panics.
func ParseIPXEOptions(b []byte) (Features, error) {
	var fs Features
	for i := 0; i < len(b); {
		tag := b[i]
		switch tag {
		case 0: // pad
			i++
			continue
		case 255: // end
			return fs, nil
		}
		if i+1 >= len(b) {
			return fs, fmt.Errorf("%w: sub-option %d at byte %d has no length", ErrIPXEOptions, tag, i)
		}
		n := int(b[i+1])
		if i+2+n > len(b) {
			return fs, fmt.Errorf("%w: sub-option %d at byte %d says %d bytes, %d left", ErrIPXEOptions, tag, i, n, len(b)-i-2)
		}
		if v := b[i+2 : i+2+n]; n == 1 && v[0] != 0 {
			fs = fs.With(Feature(tag))
		}
		i += 2 + n
	}
	return fs, nil
}

// Intersect is the features in both s and t.
func (s Features) Intersect(t Features) Features {
	return Features{bits: [2]uint64{s.bits[0] & t.bits[0], s.bits[1] & t.bits[1]}}
}
