package pxe

import (
	"errors"
	"fmt"
	"testing"
)

// Option 175 as iPXE builds it (src/net/udp/dhcp.c): its version (0xeb, 3
// bytes), the NIC's bus id (0xb1: bus type, vendor, device) and one
// sub-option per feature compiled in, in link order. These are written
// from that format, with the feature sets of the builds named.
var (
	// Debian's snponly.efi (upstream iPXE, EFI x86_64): no multiboot of
	// either kind.
	opt175UpstreamEFI = []byte{
		0xeb, 3, 1, 0, 0, // version 1.0.0
		0xb1, 5, 1, 0x1a, 0xf4, 0x10, 0x00, // PCI 1af4:1000 (virtio-net)
		0x13, 1, 1, // HTTP
		0x14, 1, 1, // HTTPS
		0x15, 1, 1, // TFTP
		0x17, 1, 1, // DNS
		0x11, 1, 1, // iSCSI
		0x12, 1, 1, // AoE
		0x25, 1, 1, // FCoE
		0x26, 1, 1, // VLAN
		0x27, 1, 1, // Menu
		0x24, 1, 1, // EFI
		0x18, 1, 1, // bzImage (EFI stub)
		0x29, 1, 1, // NFS
	}
	// TritonDataCenter/ipxe's snponly.efi: the same and MBOOT2.
	opt175TritonEFI = append(append([]byte(nil), opt175UpstreamEFI...), 0x2a, 1, 1)
	// Upstream undionly.kpxe (BIOS): multiboot, PXEXT at version 2.
	opt175UpstreamBIOS = []byte{
		0xeb, 3, 1, 21, 1,
		0x10, 1, 2, // PXEXT
		0x13, 1, 1, 0x15, 1, 1, 0x17, 1, 1,
		0x19, 1, 1, // Multiboot
		0x21, 1, 1, 0x22, 1, 1, 0x23, 1, 1, 0x18, 1, 1, 0x20, 1, 1,
		0xff, // end (some builds pad the block out)
	}
)

func TestClassifyIPXEFeatures(t *testing.T) {
	efi := Request{MAC: mac, VendorClass: "PXEClient:Arch:00007:UNDI:003010", ArchTypes: []uint16{7}, UserClasses: []string{"iPXE"}, IPXEOptions: true}
	tests := []struct {
		name       string
		opt175     []byte
		multiboot2 bool
		multiboot  bool
		names      string
	}{
		{"upstream snponly.efi", opt175UpstreamEFI, false, false, "iscsi,aoe,http,https,tftp,dns,bzimage,efi,fcoe,vlan,menu,nfs"},
		{"TritonDataCenter snponly.efi", opt175TritonEFI, true, false, "iscsi,aoe,http,https,tftp,dns,bzimage,efi,fcoe,vlan,menu,nfs,multiboot2"},
		{"upstream undionly.kpxe", opt175UpstreamBIOS, false, true, "pxe-ext,http,tftp,dns,bzimage,multiboot,nbi,pxe,elf,comboot"},
		{"option 175 present, empty", []byte{}, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := efi
			r.IPXEEncap = tt.opt175
			c := Classify(r)
			if !c.IPXE || c.Arch != ArchEFIx8664 {
				t.Errorf("Classify = %+v, want an efi-x86_64 iPXE client", c)
			}
			if got := c.Features.Has(FeatureMultiboot2); got != tt.multiboot2 {
				t.Errorf("Has(multiboot2) = %v, want %v", got, tt.multiboot2)
			}
			if got := c.Features.Has(FeatureMultiboot); got != tt.multiboot {
				t.Errorf("Has(multiboot) = %v, want %v", got, tt.multiboot)
			}
			if got := c.Features.String(); got != tt.names {
				t.Errorf("features %q, want %q", got, tt.names)
			}
			back, err := ParseFeatureList(c.Features.String())
			if err != nil || back != c.Features {
				t.Errorf("ParseFeatureList(%q) = %v, %v", c.Features.String(), back, err)
			}
		})
	}
	// Not iPXE: no features, whatever.
	if c := Classify(Request{MAC: mac, VendorClass: "PXEClient", ArchTypes: []uint16{7}}); !c.Features.Empty() {
		t.Errorf("firmware PXE client has features %v", c.Features)
	}
	// Option 175 bytes alone make an iPXE client.
	if c := Classify(Request{MAC: mac, ArchTypes: []uint16{7}, IPXEEncap: []byte{0x2a, 1, 1}}); !c.IPXE || !c.Features.Has(FeatureMultiboot2) {
		t.Errorf("Classify = %+v", c)
	}
}

func TestParseIPXEOptions(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		want  Features
		fault bool
	}{
		{"nil", nil, Features{}, false},
		{"pads only", []byte{0, 0, 0}, Features{}, false},
		{"pad between", []byte{0x2a, 1, 1, 0, 0x19, 1, 1}, NewFeatures(FeatureMultiboot2, FeatureMultiboot), false},
		{"end stops", []byte{0x2a, 1, 1, 0xff, 0x19, 1, 1}, NewFeatures(FeatureMultiboot2), false},
		{"value 0 is off", []byte{0x2a, 1, 0}, Features{}, false},
		{"two-byte value is not a flag", []byte{0x2a, 2, 1, 1}, Features{}, false},
		{"empty value is not a flag", []byte{0x2a, 0, 0x19, 1, 1}, NewFeatures(FeatureMultiboot), false},
		{"tags below 0x10 are not features", []byte{0x01, 1, 1, 0x0f, 1, 1}, Features{}, false},
		{"tags above 0x7f are not features", []byte{0x80, 1, 1, 0xeb, 1, 1, 0xb1, 1, 1}, Features{}, false},
		{"unknown feature tag kept", []byte{0x7f, 1, 1}, NewFeatures(0x7f), false},
		{"no length", []byte{0x19, 1, 1, 0x2a}, NewFeatures(FeatureMultiboot), true},
		{"length past the end", []byte{0x19, 1, 1, 0x2a, 5, 1}, NewFeatures(FeatureMultiboot), true},
		{"version truncated", []byte{0xeb, 3, 1, 0}, Features{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIPXEOptions(tt.in)
			if got != tt.want {
				t.Errorf("features %v, want %v", got, tt.want)
			}
			if (err != nil) != tt.fault || (err != nil && !errors.Is(err, ErrIPXEOptions)) {
				t.Errorf("err = %v, want fault %v", err, tt.fault)
			}
		})
	}
}

func TestFeatureNames(t *testing.T) {
	for f, n := range featureNames {
		if f < featureMin || f > featureMax {
			t.Errorf("%s: tag 0x%02x is outside 0x10-0x7f", n[0], uint8(f))
		}
		for _, s := range []string{n[0], n[1], fmt.Sprintf("0x%02x", uint8(f))} {
			got, err := ParseFeature(s)
			if err != nil || got != f {
				t.Errorf("ParseFeature(%q) = %v, %v; want %v", s, got, err, f)
			}
		}
	}
	for s, want := range map[string]Feature{"MBOOT2": FeatureMultiboot2, "Multiboot2": FeatureMultiboot2, "42": FeatureMultiboot2, "0x19": FeatureMultiboot, "pxext": FeaturePXEExt} {
		if got, err := ParseFeature(s); err != nil || got != want {
			t.Errorf("ParseFeature(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, bad := range []string{"", "multiboot3", "0x0f", "0x80", "256", "-1"} {
		if f, err := ParseFeature(bad); err == nil {
			t.Errorf("ParseFeature(%q) = %v, want an error", bad, f)
		}
	}
	if Feature(0x7e).String() != "0x7e" {
		t.Errorf("unknown tag prints %q", Feature(0x7e).String())
	}
	got, err := ParseFeatureList("multiboot2, https,efi")
	if err != nil || got != NewFeatures(FeatureMultiboot2, FeatureHTTPS, FeatureEFI) {
		t.Errorf("ParseFeatureList = %v, %v", got, err)
	}
	if _, err := ParseFeatureList("multiboot2,nope"); err == nil {
		t.Error("ParseFeatureList accepted an unknown name")
	}
	if got, err := ParseFeatureList(""); err != nil || !got.Empty() {
		t.Errorf("ParseFeatureList(\"\") = %v, %v", got, err)
	}
	if !NewFeatures(0x05, 0x90).Empty() {
		t.Error("NewFeatures kept tags that are not features")
	}
}

// FuzzParseIPXEOptions: any bytes give a result and no panic; the flags read
// are only tags 0x10-0x7f, and a well-formed input round-trips through the
// names.
func FuzzParseIPXEOptions(f *testing.F) {
	for _, seed := range [][]byte{opt175UpstreamEFI, opt175TritonEFI, opt175UpstreamBIOS, {}, {0x2a}, {0x2a, 9, 1}, {0, 0xff}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := ParseIPXEOptions(b)
		if err != nil && !errors.Is(err, ErrIPXEOptions) {
			t.Fatalf("error %v does not wrap ErrIPXEOptions", err)
		}
		for _, x := range fs.List() {
			if x < featureMin || x > featureMax {
				t.Fatalf("feature tag 0x%02x out of range", uint8(x))
			}
		}
		back, err := ParseFeatureList(fs.String())
		if err != nil || back != fs {
			t.Fatalf("names %q read back as %v, %v", fs.String(), back, err)
		}
		c := Classify(Request{IPXEEncap: b})
		if c.Features != fs {
			t.Fatalf("Classify features %v, ParseIPXEOptions %v", c.Features, fs)
		}
	})
}
