package menu

import (
	"strings"
	"testing"

	"rackboot/internal/bootargs"
	"rackboot/internal/pxe"
)

func TestItemID(t *testing.T) {
	for _, tt := range []struct{ in, base, want string }{
		{"", "", ""},
		{"memtest", "", "memtest"},
		{"20250214T000000Z", "", "smartos-20250214T000000Z"},
		{"noimport", "", "smartos-noimport"},
		{"noimport", "smartos", "smartos-noimport"},
		{"noimport", "memtest", "smartos-noimport"},
		{"noimport", "20250214T000000Z", "smartos-20250214T000000Z-noimport"},
		{"noimport", "smartos-20250214T000000Z", "smartos-20250214T000000Z-noimport"},
		{"noimport", "smartos-20250214T000000Z-noimport", "smartos-20250214T000000Z-noimport"},
		{"smartos-noimport", "", "smartos-noimport"},
	} {
		if got := ItemID(tt.in, tt.base); got != tt.want {
			t.Errorf("ItemID(%q, %q) = %q, want %q", tt.in, tt.base, got, tt.want)
		}
	}
}

// TestForMachine: a machine's default, -B pairs, root_shadow, skip-menu and
// name reach its menu, over the configuration's.
func TestForMachine(t *testing.T) {
	o := baseOptions()
	o.BootArgs = []bootargs.KV{{Key: "hostname", Value: "default"}, {Key: "rbk", Value: "1"}}
	m := Machine{
		Name:       "cn7",
		Default:    ItemID("noimport", "20130405T010449Z"),
		BootArgs:   []bootargs.KV{{Key: "hostname", Value: "cn7"}, {Key: "admin_nic", Value: "52:54:00:12:34:56"}},
		RootShadow: seedShadow,
		SkipMenu:   true,
	}
	s, err := Build(o.ForMachine(m), twoBuilds, pxe.ArchBIOS, pxe.Features{}, mac)
	if err != nil {
		t.Fatal(err)
	}
	script := string(s.Render())
	for _, want := range []string{
		"menu rackboot - cn7\n",
		"choose --default smartos-20130405T010449Z-noimport ",
		"set menu-timeout 100\n",
		"-B console=text,root_shadow='" + seedShadow + "',smartos=true,noimport=true,hostname=cn7,rbk=1,admin_nic=52:54:00:12:34:56",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("menu lacks %q:\n%s", want, script)
		}
	}
	if o.BootArgs[0].Value != "default" {
		t.Errorf("ForMachine changed the shared options' boot args")
	}
	// The zero Machine changes nothing.
	plain, _ := Build(o, twoBuilds, pxe.ArchBIOS, pxe.Features{}, mac)
	same, _ := Build(o.ForMachine(Machine{}), twoBuilds, pxe.ArchBIOS, pxe.Features{}, mac)
	if string(plain.Render()) != string(same.Render()) {
		t.Errorf("a zero Machine changed the menu")
	}
}
