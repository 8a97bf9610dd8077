package boot

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"rackboot/internal/pxe"
)

var testMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

func testConfig(files ...string) Config {
	have := map[string]bool{}
	for _, f := range files {
		have[f] = true
	}
	return Config{
		ServerIP:    netip.MustParseAddr("10.0.0.1"),
		HTTPBase:    "http://10.0.0.1:8080",
		HasFile:     func(name string) bool { return have[name] },
		FirmwareDir: "/var/lib/rackboot/firmware",
	}
}

func TestDecide(t *testing.T) {
	debian := testConfig("undionly.kpxe", "ipxe.efi", "snponly.efi")
	tests := []struct {
		name       string
		cfg        Config
		client     pxe.Client
		wantAnswer bool
		wantFile   string
		wantReason string // substring
	}{
		{
			name:       "BIOS PXE ROM gets undionly.kpxe",
			cfg:        debian,
			client:     pxe.Client{MAC: testMAC, Arch: pxe.ArchBIOS, PXE: true},
			wantAnswer: true, wantFile: "undionly.kpxe",
		},
		{
			name:       "EDK2 x86_64 prefers snponly.efi",
			cfg:        debian,
			client:     pxe.Client{MAC: testMAC, Arch: pxe.ArchEFIx8664, PXE: true},
			wantAnswer: true, wantFile: "snponly.efi",
		},
		{
			name:       "falls back to the next build present",
			cfg:        testConfig("ipxe.efi"),
			client:     pxe.Client{MAC: testMAC, Arch: pxe.ArchEFIx8664, PXE: true},
			wantAnswer: true, wantFile: "ipxe.efi",
		},
		{
			name:   "no arm64 build: silent, with a reason naming files and dir",
			cfg:    debian,
			client: pxe.Client{MAC: testMAC, Arch: pxe.ArchEFIARM64, PXE: true},
			wantReason: "no iPXE build for efi-arm64: put one of arm64/snponly.efi, arm64/ipxe.efi, " +
				"ipxe-arm64.efi, snp-arm64.efi in /var/lib/rackboot/firmware",
		},
		{
			name:       "iPXE gets the menu URL, even without firmware files",
			cfg:        testConfig(),
			client:     pxe.Client{MAC: testMAC, Arch: pxe.ArchBIOS, PXE: true, IPXE: true},
			wantAnswer: true,
			wantFile:   "http://10.0.0.1:8080/boot.ipxe?mac=52:54:00:12:34:56&arch=bios",
		},
		{
			name:       "iPXE on UEFI x86_64",
			cfg:        debian,
			client:     pxe.Client{MAC: testMAC, Arch: pxe.ArchEFIx8664, PXE: true, IPXE: true},
			wantAnswer: true,
			wantFile:   "http://10.0.0.1:8080/boot.ipxe?mac=52:54:00:12:34:56&arch=efi-x86_64",
		},
		{
			name:       "UEFI HTTP boot gets an HTTP URL to the NBP",
			cfg:        debian,
			client:     pxe.Client{MAC: testMAC, Arch: pxe.ArchEFIx8664, HTTPBoot: true},
			wantAnswer: true, wantFile: "http://10.0.0.1:8080/snponly.efi",
		},
		{
			name:       "HTTP boot without a build is silent",
			cfg:        testConfig(),
			client:     pxe.Client{MAC: testMAC, Arch: pxe.ArchEFIx8664, HTTPBoot: true},
			wantReason: "no iPXE build for efi-x86_64",
		},
		{
			name:       "not a boot client",
			cfg:        debian,
			client:     pxe.Client{MAC: testMAC, Arch: pxe.ArchUnknown},
			wantReason: "not a network-boot client",
		},
		{
			name:       "unknown arch",
			cfg:        debian,
			client:     pxe.Client{MAC: testMAC, Arch: pxe.ArchUnknown, PXE: true},
			wantReason: "unknown client architecture",
		},
		{
			name:       "nil HasFile serves the first preference",
			cfg:        Config{ServerIP: netip.MustParseAddr("10.0.0.1")},
			client:     pxe.Client{MAC: testMAC, Arch: pxe.ArchEFIARM64, PXE: true},
			wantAnswer: true, wantFile: "arm64/snponly.efi",
		},
		{
			name:       "default firmware dir in the message",
			cfg:        Config{HasFile: func(string) bool { return false }},
			client:     pxe.Client{MAC: testMAC, Arch: pxe.ArchBIOS, PXE: true},
			wantReason: "in the firmware directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.cfg.Decide(tt.client)
			if d.Answer != tt.wantAnswer {
				t.Fatalf("Answer = %v (reason %q), want %v", d.Answer, d.Reason, tt.wantAnswer)
			}
			if d.BootFile != tt.wantFile {
				t.Errorf("BootFile = %q, want %q", d.BootFile, tt.wantFile)
			}
			if d.Reason == "" {
				t.Error("empty Reason")
			}
			if tt.wantReason != "" && !strings.Contains(d.Reason, tt.wantReason) {
				t.Errorf("Reason = %q, want it to contain %q", d.Reason, tt.wantReason)
			}
			if d.Answer && d.NextServer != tt.cfg.ServerIP {
				t.Errorf("NextServer = %v, want %v", d.NextServer, tt.cfg.ServerIP)
			}
		})
	}
}

func TestMenuURL(t *testing.T) {
	c := Config{HTTPBase: "http://192.0.2.7:8080"}
	hw := net.HardwareAddr{0xAA, 0xBB, 0xCC, 0x00, 0x01, 0x02}
	got := c.MenuURL(hw, pxe.ArchEFIARM64, pxe.Features{})
	want := "http://192.0.2.7:8080/boot.ipxe?mac=aa:bb:cc:00:01:02&arch=efi-arm64"
	if got != want {
		t.Errorf("MenuURL = %q, want %q", got, want)
	}
	// Only the features the menu decides on travel; multiboot2 does.
	upstream := pxe.NewFeatures(pxe.FeatureHTTP, pxe.FeatureEFI, pxe.FeatureMultiboot)
	if got := c.MenuURL(hw, pxe.ArchEFIx8664, upstream); strings.Contains(got, "features") {
		t.Errorf("MenuURL = %q, want no features", got)
	}
	got = c.MenuURL(hw, pxe.ArchEFIx8664, upstream.With(pxe.FeatureMultiboot2))
	want = "http://192.0.2.7:8080/boot.ipxe?mac=aa:bb:cc:00:01:02&arch=efi-x86_64&features=multiboot2"
	if got != want {
		t.Errorf("MenuURL = %q, want %q", got, want)
	}
	// Decide puts it in an iPXE client's boot file.
	d := c.Decide(pxe.Client{MAC: hw, Arch: pxe.ArchEFIx8664, IPXE: true, Features: upstream.With(pxe.FeatureMultiboot2)})
	if d.BootFile != want {
		t.Errorf("Decide boot file %q, want %q", d.BootFile, want)
	}
}

func TestChainScript(t *testing.T) {
	url := "http://10.0.0.1:8080/boot.ipxe?mac=52:54:00:12:34:56&arch=bios"
	s := string(ChainScript(url))
	if !strings.HasPrefix(s, "#!ipxe\n") {
		t.Errorf("script does not start with #!ipxe: %q", s)
	}
	if !strings.Contains(s, "\nchain --autofree --replace "+url+" || goto failed\n") {
		t.Errorf("script lacks the chain line:\n%s", s)
	}
	if !strings.Contains(s, "\n:failed\n") || !strings.HasSuffix(s, "shell\n") {
		t.Errorf("script lacks the failure path:\n%s", s)
	}
	// iPXE 2019 has no quoting we want to rely on, and "${" would be
	// expanded as a setting.
	for _, bad := range []string{"'", `"`, "${"} {
		if strings.Contains(strings.ReplaceAll(s, url, ""), bad) {
			t.Errorf("script contains %q:\n%s", bad, s)
		}
	}
}

func TestDecideSecureBoot(t *testing.T) {
	sb := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}
	c := Config{ServerIP: netip.MustParseAddr("10.0.0.1"), HTTPBase: "http://10.0.0.1:8080", SecureBootFile: "bootnetx64.efi",
		SecureBoot: func(mac net.HardwareAddr) bool { return mac.String() == sb.String() }}
	other := net.HardwareAddr{0x52, 0x54, 0, 0, 0, 2}
	tests := []struct {
		cl   pxe.Client
		want string
	}{
		{pxe.Client{PXE: true, Arch: pxe.ArchEFIx8664, MAC: sb}, "bootnetx64.efi"},
		{pxe.Client{HTTPBoot: true, Arch: pxe.ArchEFIx8664, MAC: sb}, "http://10.0.0.1:8080/bootnetx64.efi"},
		{pxe.Client{PXE: true, Arch: pxe.ArchEFIx8664, MAC: other}, "snponly.efi"},
		{pxe.Client{PXE: true, Arch: pxe.ArchBIOS, MAC: sb}, "undionly.kpxe"},
		{pxe.Client{IPXE: true, Arch: pxe.ArchEFIx8664, MAC: sb}, "http://10.0.0.1:8080/boot.ipxe?mac=52:54:00:00:00:01&arch=efi-x86_64"},
	}
	for _, tt := range tests {
		if d := c.Decide(tt.cl); d.BootFile != tt.want {
			t.Errorf("%+v: %q, want %q", tt.cl, d.BootFile, tt.want)
		}
	}
	c.SecureBootFile = "" // no chain installed: iPXE, as before
	if d := c.Decide(tests[0].cl); d.BootFile != "snponly.efi" {
		t.Errorf("without a chain: %q", d.BootFile)
	}
}
