package menu

import (
	"strings"
	"testing"

	"rackboot/internal/bootargs"
	"rackboot/internal/ipxe"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
)

func TestBuildRefusesBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts func(o *Options)
		want string
	}{
		{"no base URL", func(o *Options) { o.BaseURL = "" }, "base URL"},
		{"relative base URL", func(o *Options) { o.BaseURL = "/boot" }, "base URL"},
		{"ftp base URL", func(o *Options) { o.BaseURL = "ftp://h/" }, "base URL"},
		{"expansion in base URL", func(o *Options) { o.BaseURL = "http://${next-server}:8080" }, "base URL"},
		{"console", func(o *Options) { o.Console = "com1" }, "console"},
		{"root shadow", func(o *Options) { o.RootShadow = "hunter2" }, "root_shadow"},
		{"comma in boot arg", func(o *Options) { o.BootArgs = []bootargs.KV{{Key: "a", Value: "b,c"}} }, "comma"},
		{"reserved boot arg", func(o *Options) { o.BootArgs = []bootargs.KV{{Key: "console", Value: "ttya"}} }, "Console"},
		{"title comment", func(o *Options) { o.Title = "Rack #7" }, "title"},
		{"memtest path", func(o *Options) { o.Memtest = map[pxe.Firmware]string{pxe.BIOS: "../etc/passwd"} }, "memtest"},
		{"memtest space", func(o *Options) { o.Memtest = map[pxe.Firmware]string{pxe.BIOS: "mem test.bin"} }, "memtest"},
		{"menu url", func(o *Options) { o.MenuURL = "http://h/a b" }, "menu URL"},
		{"default form", func(o *Options) { o.Default = "ubuntu" }, `"ubuntu" is not an item id`},
		{"default reload", func(o *Options) { o.Default = "reload" }, "forever"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := baseOptions()
			tt.opts(&o)
			_, err := Build(o, twoBuilds, pxe.ArchBIOS, pxe.Features{}, mac)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			if err := Check(o, twoBuilds); err == nil {
				t.Error("Check accepted it")
			}
		})
	}
}

func TestCheckDefaultAgainstCatalog(t *testing.T) {
	o := baseOptions()
	for _, ok := range []string{"", "smartos", "smartos-noimport", "smartos-20130405T010449Z",
		"smartos-20130808T195337Z-noimport", "memtest", "shell", "reboot", "exit"} {
		o.Default = ok
		if err := Check(o, twoBuilds); err != nil {
			t.Errorf("Check(%q): %v", ok, err)
		}
	}
	o.Default = "smartos-20990101T000000Z"
	err := Check(o, twoBuilds)
	if err == nil || !strings.Contains(err.Error(), `"smartos-20990101T000000Z" is not a menu item`) ||
		!strings.Contains(err.Error(), "smartos-20130405T010449Z-noimport") {
		t.Errorf("Check: %v", err)
	}
	o.Default, o.Memtest = "memtest", nil
	if err := Check(o, twoBuilds); err == nil {
		t.Error("memtest default accepted without memtest")
	}
}

func TestMultibootLimit(t *testing.T) {
	o := baseOptions()
	o.RootShadow = seedShadow
	o.BaseURL = "http://" + strings.Repeat("boot-server.", 6) + "example.com:8080"
	_, err := Build(o, twoBuilds, pxe.ArchBIOS, pxe.Features{}, mac)
	if err == nil || !strings.Contains(err.Error(), "at most 512") {
		t.Fatalf("err = %v, want the 512-byte multiboot limit", err)
	}
	// The same catalog boots fine on UEFI, where SmartOS is not offered.
	if _, err := Build(o, twoBuilds, pxe.ArchEFIx8664, pxe.Features{}, mac); err != nil {
		t.Errorf("UEFI: %v", err)
	}
}

// The options menu's boot, with its longest values (console ttya,
// noimport=false, -kd), is the first to outgrow the multiboot limit as the
// base URL grows: its check must not be skipped because it uses settings.
func TestMultibootLimitOptionsMenu(t *testing.T) {
	o := baseOptions()
	o.RootShadow = seedShadow
	for n := 0; n < 400; n++ {
		o.BaseURL = "http://boot" + strings.Repeat("x", n) + ".example:8080"
		s, err := Build(o, twoBuilds, pxe.ArchBIOS, pxe.Features{}, mac)
		if err == nil {
			if ps := ipxe.Lint(s.Render()); len(ps) != 0 {
				t.Fatalf("base URL of %d bytes: Build accepts, Lint finds %v", len(o.BaseURL), ps)
			}
			continue
		}
		if !strings.Contains(err.Error(), "SmartOS options menu, 20130808T195337Z: the kernel and module lines can need") {
			t.Fatalf("first failure at %d bytes of base URL is not the options menu's: %v", len(o.BaseURL), err)
		}
		return
	}
	t.Fatal("no base URL too long")
}

func TestUnsafeAndClashingBuildsAreLeftOut(t *testing.T) {
	ps := []smartos.Platform{platform("20130808T195337Z", false), platform("x", false),
		platform("x-noimport", false), platform("bad name", false)}
	s, err := Build(baseOptions(), ps, pxe.ArchBIOS, pxe.Features{}, mac)
	if err != nil {
		t.Fatal(err)
	}
	out := string(s.Render())
	if strings.Contains(out, "bad name") || strings.Count(out, "\n:smartos-x-noimport\n") != 1 {
		t.Errorf("unsafe or clashing build listed:\n%s", out)
	}
}

func TestUnknownArchOffersSmartOS(t *testing.T) {
	s, err := Build(baseOptions(), twoBuilds, pxe.ArchUnknown, pxe.Features{}, "not-a-mac")
	if err != nil {
		t.Fatal(err)
	}
	out := string(s.Render())
	if !strings.Contains(out, "item smartos-20130808T195337Z ") || strings.Contains(out, "item memtest") ||
		!strings.Contains(out, "menu for unknown (unknown)") {
		t.Errorf("unexpected menu:\n%s", out)
	}
}

func TestHeader(t *testing.T) {
	h := header("Utilities")
	if len(h) != headerWidth || !strings.Contains(h, "- Utilities -") {
		t.Errorf("header = %q", h)
	}
	if h := header(strings.Repeat("x", 70)); !strings.HasPrefix(h, "---- x") {
		t.Errorf("long header = %q", h)
	}
}
