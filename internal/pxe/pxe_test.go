package pxe

import (
	"bytes"
	"net"
	"reflect"
	"testing"
)

var mac = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

func TestClassify(t *testing.T) {
	uuid := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	tests := []struct {
		name string
		req  Request
		want Client
	}{
		{
			// QEMU's default NIC ROM is iPXE (TESTING.md): user class iPXE,
			// option 175, arch 0, PXE vendor class.
			name: "QEMU iPXE ROM",
			req: Request{
				MAC: mac, VendorClass: "PXEClient:Arch:00000:UNDI:002001",
				ArchTypes: []uint16{0}, UserClasses: []string{"iPXE"}, IPXEOptions: true, UUID: uuid,
			},
			want: Client{MAC: mac, Arch: ArchBIOS, PXE: true, IPXE: true, UUID: uuid},
		},
		{
			name: "EDK2 x86_64 PXE (OVMF, arch 7)",
			req: Request{
				MAC: mac, VendorClass: "PXEClient:Arch:00007:UNDI:003000",
				ArchTypes: []uint16{7}, UUID: uuid,
			},
			want: Client{MAC: mac, Arch: ArchEFIx8664, PXE: true, UUID: uuid},
		},
		{
			name: "arch 9 (EFI BC) is x86_64 too",
			req:  Request{MAC: mac, VendorClass: "PXEClient:Arch:00009:UNDI:003016", ArchTypes: []uint16{9}},
			want: Client{MAC: mac, Arch: ArchEFIx8664, PXE: true},
		},
		{
			name: "UEFI HTTP boot, arch 16",
			req:  Request{MAC: mac, VendorClass: "HTTPClient:Arch:00016:UNDI:003001", ArchTypes: []uint16{16}},
			want: Client{MAC: mac, Arch: ArchEFIx8664, HTTPBoot: true},
		},
		{
			name: "HTTP arch type with a PXEClient vendor class is still HTTP boot",
			req:  Request{MAC: mac, VendorClass: "PXEClient", ArchTypes: []uint16{19}},
			want: Client{MAC: mac, Arch: ArchEFIARM64, PXE: true, HTTPBoot: true},
		},
		{
			name: "arm64 UEFI PXE, arch 11",
			req:  Request{MAC: mac, VendorClass: "PXEClient:Arch:00011:UNDI:003000", ArchTypes: []uint16{11}},
			want: Client{MAC: mac, Arch: ArchEFIARM64, PXE: true},
		},
		{
			name: "EFI i386, arch 6",
			req:  Request{MAC: mac, VendorClass: "PXEClient:Arch:00006:UNDI:003000", ArchTypes: []uint16{6}},
			want: Client{MAC: mac, Arch: ArchEFIi386, PXE: true},
		},
		{
			name: "no option 93: arch from the vendor class",
			req:  Request{MAC: mac, VendorClass: "PXEClient:Arch:00007:UNDI:003000"},
			want: Client{MAC: mac, Arch: ArchEFIx8664, PXE: true},
		},
		{
			name: "no option 93, bare PXEClient: an old BIOS ROM",
			req:  Request{MAC: mac, VendorClass: "PXEClient"},
			want: Client{MAC: mac, Arch: ArchBIOS, PXE: true},
		},
		{
			name: "no option 93, an arch we cannot boot in the vendor class",
			req:  Request{MAC: mac, VendorClass: "PXEClient:Arch:00002:UNDI:002001"},
			want: Client{MAC: mac, Arch: ArchUnknown, PXE: true},
		},
		{
			name: "no option 93, garbled arch field: BIOS",
			req:  Request{MAC: mac, VendorClass: "PXEClient:Arch:xyz"},
			want: Client{MAC: mac, Arch: ArchBIOS, PXE: true},
		},
		{
			name: "unknown option 93 type (IA64) is unknown",
			req:  Request{MAC: mac, VendorClass: "PXEClient:Arch:00002:UNDI:002001", ArchTypes: []uint16{2}},
			want: Client{MAC: mac, Arch: ArchUnknown, PXE: true},
		},
		{
			name: "first option 93 entry wins",
			req:  Request{MAC: mac, VendorClass: "PXEClient", ArchTypes: []uint16{7, 0}},
			want: Client{MAC: mac, Arch: ArchEFIx8664, PXE: true},
		},
		{
			name: "ordinary DHCP client",
			req:  Request{MAC: mac, VendorClass: "android-dhcp-14", UserClasses: []string{"phone"}},
			want: Client{MAC: mac, Arch: ArchUnknown},
		},
		{
			name: "no options at all",
			req:  Request{MAC: mac},
			want: Client{MAC: mac, Arch: ArchUnknown},
		},
		{
			name: "option 175 without user class is iPXE",
			req:  Request{MAC: mac, VendorClass: "PXEClient:Arch:00007:UNDI:003010", ArchTypes: []uint16{7}, IPXEOptions: true},
			want: Client{MAC: mac, Arch: ArchEFIx8664, PXE: true, IPXE: true},
		},
		{
			name: "user class iPXE among others",
			req:  Request{MAC: mac, ArchTypes: []uint16{0}, UserClasses: []string{"rack12", "iPXE"}},
			want: Client{MAC: mac, Arch: ArchBIOS, IPXE: true},
		},
		{
			name: "gPXE is not iPXE",
			req:  Request{MAC: mac, VendorClass: "PXEClient", ArchTypes: []uint16{0}, UserClasses: []string{"gPXE"}},
			want: Client{MAC: mac, Arch: ArchBIOS, PXE: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.req)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Classify =\n  %+v\nwant\n  %+v", got, tt.want)
			}
			if got.NetBoot() != (tt.want.PXE || tt.want.HTTPBoot || tt.want.IPXE) {
				t.Errorf("NetBoot = %v", got.NetBoot())
			}
		})
	}
}

func TestBootFiles(t *testing.T) {
	tests := []struct {
		arch  Arch
		first string
	}{
		{ArchBIOS, "undionly.kpxe"},
		{ArchEFIx8664, "snponly.efi"},
		{ArchEFIi386, "i386/snponly.efi"},
		{ArchEFIARM64, "arm64/snponly.efi"},
		{ArchEFIARM32, "arm32/snponly.efi"},
	}
	for _, tt := range tests {
		files := BootFiles(tt.arch)
		if len(files) == 0 || files[0] != tt.first {
			t.Errorf("BootFiles(%v) = %v, want %q first", tt.arch, files, tt.first)
		}
		seen := map[string]bool{}
		for _, f := range files {
			if seen[f] {
				t.Errorf("BootFiles(%v) lists %q twice", tt.arch, f)
			}
			seen[f] = true
		}
	}
	if files := BootFiles(ArchUnknown); files != nil {
		t.Errorf("BootFiles(unknown) = %v, want nil", files)
	}
	// Debian's ipxe package ships both x86_64 UEFI builds (TESTING.md).
	if got := BootFiles(ArchEFIx8664); !reflect.DeepEqual(got, []string{"snponly.efi", "ipxe.efi"}) {
		t.Errorf("BootFiles(efi-x86_64) = %v", got)
	}
}

func TestArchStringParseRoundTrip(t *testing.T) {
	want := map[Arch]string{
		ArchBIOS:     "bios",
		ArchEFIi386:  "efi-i386",
		ArchEFIx8664: "efi-x86_64",
		ArchEFIARM32: "efi-arm32",
		ArchEFIARM64: "efi-arm64",
	}
	for a, s := range want {
		if a.String() != s {
			t.Errorf("%#v.String() = %q, want %q", a, a.String(), s)
		}
		got, err := ParseArch(s)
		if err != nil || got != a {
			t.Errorf("ParseArch(%q) = %v, %v", s, got, err)
		}
	}
	if ArchUnknown.String() != "unknown" {
		t.Errorf("ArchUnknown.String() = %q", ArchUnknown.String())
	}
	for _, bad := range []string{"", "unknown", "efi", "EFI-X86_64", "efi-amd64", "pcbios"} {
		if a, err := ParseArch(bad); err == nil {
			t.Errorf("ParseArch(%q) = %v, want an error", bad, a)
		}
	}
}

func TestArchFromIPXE(t *testing.T) {
	tests := []struct {
		platform, buildarch string
		want                Arch
	}{
		{"pcbios", "i386", ArchBIOS},
		{"pcbios", "x86_64", ArchBIOS}, // ipxe.lkrn built for x86_64 is still BIOS
		{"efi", "i386", ArchEFIi386},
		{"efi", "x86_64", ArchEFIx8664},
		{"efi", "arm32", ArchEFIARM32},
		{"efi", "arm64", ArchEFIARM64},
	}
	for _, tt := range tests {
		got, err := ArchFromIPXE(tt.platform, tt.buildarch)
		if err != nil || got != tt.want {
			t.Errorf("ArchFromIPXE(%q, %q) = %v, %v; want %v", tt.platform, tt.buildarch, got, err, tt.want)
		}
		// Round trip: the String form of what iPXE reports parses back.
		back, err := ParseArch(got.String())
		if err != nil || back != got {
			t.Errorf("ParseArch(%q) = %v, %v", got.String(), back, err)
		}
	}
	for _, bad := range [][2]string{{"", ""}, {"efi", "riscv64"}, {"coreboot", "i386"}, {"linux", "x86_64"}} {
		if a, err := ArchFromIPXE(bad[0], bad[1]); err == nil {
			t.Errorf("ArchFromIPXE(%q, %q) = %v, want an error", bad[0], bad[1], a)
		}
	}
}

func TestClassifyKeepsUUID(t *testing.T) {
	uuid := []byte{0, 0xde, 0xad}
	c := Classify(Request{MAC: mac, VendorClass: "PXEClient", UUID: uuid})
	if !bytes.Equal(c.UUID, uuid) {
		t.Errorf("UUID = %x", c.UUID)
	}
}
