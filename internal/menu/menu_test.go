package menu

import (
	"bytes"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rackboot/internal/bootargs"
	"rackboot/internal/ipxe"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
)

var update = flag.Bool("update", false, "rewrite testdata/*.ipxe from the current output")

const (
	mac        = "52:54:00:12:34:56"
	seedShadow = "$5$rbGKkqrW$c3rJPrkCPAc.Idnw0Tv0Grc3A6oHJuL131C2H4ykuXA"
)

// platform builds a catalog entry the way smartos.Scan would.
func platform(build string, hash bool) smartos.Platform {
	return smartos.Platform{
		Build:       build,
		Dir:         "/var/lib/rackboot/smartos/" + build,
		KernelPath:  "smartos/" + build + "/" + smartos.KernelFile,
		ArchivePath: "smartos/" + build + "/" + smartos.ArchiveFile,
		HashPath:    "smartos/" + build + "/" + smartos.HashFile,
		HasHash:     hash,
	}
}

// twoBuilds is the seed's catalog, newest first; only the newer has a hash.
var twoBuilds = []smartos.Platform{platform("20130808T195337Z", true), platform("20130405T010449Z", false)}

func baseOptions() Options {
	return Options{
		Title:   "rackboot",
		Timeout: 30 * time.Second,
		BaseURL: "http://10.0.0.1:8080",
		Console: "text",
		Memtest: map[pxe.Firmware]string{pxe.BIOS: "memtest/memtest86+x64.bin", pxe.UEFI: "memtest/memtest86+x64.efi"},
		DataDir: "/var/lib/rackboot",
	}
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name      string
		opts      func(o *Options)
		platforms []smartos.Platform
		arch      pxe.Arch
	}{
		{"bios", nil, twoBuilds, pxe.ArchBIOS},
		{"uefi", nil, twoBuilds, pxe.ArchEFIx8664},
		{"uefi-multiboot2", nil, twoBuilds, pxe.ArchEFIx8664},
		{"no-platforms", nil, nil, pxe.ArchBIOS},
		{"default-configured", func(o *Options) { o.Default = "smartos-20130405T010449Z" }, twoBuilds, pxe.ArchBIOS},
		{"default-noimport", func(o *Options) { o.Default = IDNewestSmartOSNoImport }, twoBuilds, pxe.ArchBIOS},
		{"root-shadow", func(o *Options) { o.RootShadow = seedShadow }, twoBuilds, pxe.ArchBIOS},
		{"extra-boot-args", func(o *Options) {
			o.Console = "ttyb"
			o.BootArgs = []bootargs.KV{{Key: "ttyb-mode", Value: `"115200,8,n,1,-"`}, {Key: "hostname", Value: "cn1"}}
		}, twoBuilds, pxe.ArchBIOS},
		{"memtest-absent", func(o *Options) { o.Memtest = nil }, twoBuilds, pxe.ArchBIOS},
		{"kernel-debugger", func(o *Options) {
			o.KernelDebugger = smartos.DebuggerBoot
			o.OSConsole = "vga"
			o.Standalone = true
			o.Console = "ttya"
		}, twoBuilds[1:], pxe.ArchBIOS},
		{"reload-and-wait-forever", func(o *Options) {
			o.MenuURL = "http://10.0.0.1:8080/boot.ipxe?mac=${net0/mac}&arch=bios"
			o.Timeout = -1
			o.Title = "Rack 7 -- boot menu"
		}, twoBuilds[:1], pxe.ArchBIOS},
		{"arm64-uefi", nil, twoBuilds, pxe.ArchEFIARM64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := baseOptions()
			if tt.opts != nil {
				tt.opts(&o)
			}
			var features pxe.Features
			if strings.Contains(tt.name, "multiboot2") {
				// What TritonDataCenter/ipxe's snponly.efi advertises.
				features = pxe.NewFeatures(pxe.FeatureHTTP, pxe.FeatureTFTP, pxe.FeatureDNS, pxe.FeatureEFI, pxe.FeatureMultiboot2)
			}
			s, err := Build(o, tt.platforms, tt.arch, features, mac)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			got := s.Render()
			if ps := ipxe.Lint(got); len(ps) != 0 {
				t.Errorf("lint problems:\n%v\n%s", ps, got)
			}
			golden(t, filepath.Join("testdata", tt.name+".ipxe"), got)
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestDefaultFallback(t *testing.T) {
	tests := []struct {
		name      string
		def       string
		platforms []smartos.Platform
		arch      pxe.Arch
		memtest   bool
		want      string
		logged    string // part of the log line, "" for none
	}{
		{"newest by default", "", twoBuilds, pxe.ArchBIOS, true, "smartos-20130808T195337Z", ""},
		{"alias", "smartos", twoBuilds, pxe.ArchBIOS, true, "smartos-20130808T195337Z", ""},
		{"removed build", "smartos-20000101T000000Z", twoBuilds, pxe.ArchBIOS, true, "smartos-20130808T195337Z", "not on disk"},
		{"uefi smartos default", "smartos-20130808T195337Z", twoBuilds, pxe.ArchEFIx8664, true, "exit", "needs BIOS boot, or a UEFI x86_64 iPXE with multiboot2"},
		{"uefi empty default", "", twoBuilds, pxe.ArchEFIx8664, true, "exit", ""},
		{"no platforms", "", nil, pxe.ArchBIOS, true, "exit", ""},
		{"memtest configured", "memtest", twoBuilds, pxe.ArchEFIx8664, true, "memtest", ""},
		{"memtest missing", "memtest", twoBuilds, pxe.ArchBIOS, false, "smartos-20130808T195337Z", "no memtest86+"},
		{"exit", "exit", twoBuilds, pxe.ArchBIOS, true, "exit", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			o := baseOptions()
			o.Default = tt.def
			o.Log = slog.New(slog.NewTextHandler(&logs, nil))
			if !tt.memtest {
				o.Memtest = nil
			}
			s, err := Build(o, tt.platforms, tt.arch, pxe.Features{}, mac)
			if err != nil {
				t.Fatal(err)
			}
			if ps := ipxe.Lint(s.Render()); len(ps) != 0 {
				t.Errorf("lint problems: %v", ps)
			}
			if line := "--default " + tt.want + " "; !strings.Contains(string(s.Render()), line) {
				t.Errorf("no %q in\n%s", line, s.Render())
			}
			if (tt.logged == "") != (logs.Len() == 0) || !strings.Contains(logs.String(), tt.logged) {
				t.Errorf("log %q, want it to mention %q", logs.String(), tt.logged)
			}
		})
	}
}

func TestTimeouts(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second: "set menu-timeout 30000",
		0:                "set menu-timeout 100",
		-1:               "set menu-timeout 0",
	} {
		o := baseOptions()
		o.Timeout = d
		s, err := Build(o, twoBuilds, pxe.ArchBIOS, pxe.Features{}, mac)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(s.Render()), "isset ${menu-timeout} || "+want+"\n") {
			t.Errorf("timeout %v: no %q", d, want)
		}
	}
}

func TestCatalogDefault(t *testing.T) {
	tests := []struct {
		name, configured, catalog string
		arch                      pxe.Arch
		want                      string
	}{
		{"catalog's build", "", "20130405T010449Z", pxe.ArchBIOS, "smartos-20130405T010449Z"},
		{"configuration wins", "memtest", "20130405T010449Z", pxe.ArchBIOS, "memtest"},
		{"none set", "", "", pxe.ArchBIOS, "smartos-20130808T195337Z"},
		{"removed by hand", "", "20000101T000000Z", pxe.ArchBIOS, "smartos-20130808T195337Z"},
		{"uefi", "", "20130405T010449Z", pxe.ArchEFIx8664, "exit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := baseOptions()
			o.Default = tt.configured
			calls := 0
			o.CatalogDefault = func() string { calls++; return tt.catalog }
			s, err := Build(o, twoBuilds, tt.arch, pxe.Features{}, mac)
			if err != nil {
				t.Fatal(err)
			}
			out := string(s.Render())
			if !strings.Contains(out, "--default "+tt.want+" ") {
				t.Errorf("want default %s in\n%s", tt.want, out)
			}
			if tt.want == "smartos-20130405T010449Z" && !strings.Contains(out, "\nset smartos-build 20130405T010449Z\nset smartos-hash false\n") {
				t.Errorf("options menu does not start from the catalog's build:\n%s", out)
			}
			if tt.configured != "" && calls != 0 {
				t.Error("catalog read although the configuration names the default")
			}
		})
	}
}

func TestCanMultiboot(t *testing.T) {
	mb2 := pxe.NewFeatures(pxe.FeatureMultiboot2)
	upstream := pxe.NewFeatures(pxe.FeatureMultiboot, pxe.FeatureEFI, pxe.FeatureHTTP)
	tests := []struct {
		arch     pxe.Arch
		features pxe.Features
		want     bool
	}{
		{pxe.ArchBIOS, pxe.Features{}, true},
		{pxe.ArchUnknown, pxe.Features{}, true},
		{pxe.ArchEFIx8664, pxe.Features{}, false},
		{pxe.ArchEFIx8664, upstream, false}, // multiboot (1) is BIOS-only in iPXE
		{pxe.ArchEFIx8664, mb2, true},
		{pxe.ArchEFIARM64, mb2, false}, // SmartOS is x86_64 only
		{pxe.ArchEFIi386, mb2, false},
	}
	for _, tt := range tests {
		if got := CanMultiboot(tt.arch, tt.features); got != tt.want {
			t.Errorf("CanMultiboot(%v, %v) = %v, want %v", tt.arch, tt.features, got, tt.want)
		}
	}
	// A multiboot2 UEFI client boots the configured SmartOS default, and
	// gets the options menu; arm64 with the flag still gets none.
	o := baseOptions()
	o.Default = "smartos-20130405T010449Z"
	s, err := Build(o, twoBuilds, pxe.ArchEFIx8664, mb2, mac)
	if err != nil {
		t.Fatal(err)
	}
	out := string(s.Render())
	for _, want := range []string{"--default smartos-20130405T010449Z ", "\n:smartos-20130808T195337Z-noimport\n", "\nitem --key o options "} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the multiboot2 UEFI menu", want)
		}
	}
	s, err = Build(o, twoBuilds, pxe.ArchEFIARM64, mb2, mac)
	if err != nil {
		t.Fatal(err)
	}
	if out := string(s.Render()); strings.Contains(out, ":smartos-") || !strings.Contains(out, "--default exit ") {
		t.Errorf("arm64 menu offers SmartOS:\n%s", out)
	}
}

// menuTextMax is the longest item text iPXE shows whole: its menu is the
// screen's 80 columns less a border and padding, and the selected item
// shares its line with the countdown, "(30)".
const menuTextMax = 72

// Every line of the menus fits, with each setting expanded to its longest
// value (a 16-character build id).
func TestMenuTextFits(t *testing.T) {
	longest := strings.NewReplacer("${smartos-build}", "20130808T195337Z", "${smartos-console}", "ttya",
		"${smartos-noimport}", "false", "${smartos-kmdb}", "load")
	for _, shadow := range []string{"", seedShadow} {
		o := baseOptions()
		o.RootShadow = shadow
		s, err := Build(o, twoBuilds, pxe.ArchBIOS, pxe.Features{}, mac)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(s.Render()), "\n") {
			_, text, ok := strings.Cut(line, "item ")
			if !ok {
				continue
			}
			// Drop the options and the label: "--key o options Text" → "Text".
			f := strings.Fields(text)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				if f[0] == "--key" || f[0] == "--menu" {
					f = f[1:]
				}
				f = f[1:]
			}
			if !strings.Contains(text, "--gap") && len(f) > 0 {
				f = f[1:]
			}
			if shown := longest.Replace(strings.Join(f, " ")); len(shown) > menuTextMax {
				t.Errorf("%d columns, more than %d: %q", len(shown), menuTextMax, shown)
			}
		}
	}
}
