package smartos

import (
	"strings"
	"testing"

	"rackboot/internal/bootargs"
)

// The root_shadow of the user's hand-written menu (netboot-smartos-blog).
const seedShadow = "$5$rbGKkqrW$c3rJPrkCPAc.Idnw0Tv0Grc3A6oHJuL131C2H4ykuXA"

func TestBootArgsString(t *testing.T) {
	tests := []struct {
		name string
		b    BootArgs
		want string
	}{
		{"seed", BootArgs{Console: "text", RootShadow: seedShadow},
			"console=text,root_shadow='" + seedShadow + "',smartos=true"},
		{"seed noimport", BootArgs{Console: "text", RootShadow: seedShadow, NoImport: true},
			"console=text,root_shadow='" + seedShadow + "',smartos=true,noimport=true"},
		{"bare", BootArgs{}, "smartos=true"},
		{"everything", BootArgs{
			Console: "ttyb", OSConsole: "ttya", NoImport: true, Standalone: true,
			Extra: []bootargs.KV{{Key: "ttyb-mode", Value: `"115200,8,n,1,-"`}, {Key: "hostname", Value: "cn1"}, {Key: "admin_nic", Value: "00:0c:29:e9:7b:8f"}},
		}, `console=ttyb,os_console=ttya,smartos=true,noimport=true,standalone=true,ttyb-mode="115200,8,n,1,-",hostname=cn1,admin_nic=00:0c:29:e9:7b:8f`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.b.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := tt.b.String(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestBootArgsValidate(t *testing.T) {
	tests := []struct {
		name string
		b    BootArgs
		want string // part of the error
	}{
		{"console", BootArgs{Console: "com1"}, "console \"com1\""},
		{"os_console", BootArgs{OSConsole: "serial"}, "os_console"},
		{"shadow", BootArgs{RootShadow: "secret"}, "root_shadow"},
		{"comma", BootArgs{Extra: []bootargs.KV{{Key: "a", Value: "b,c"}}}, "comma"},
		{"quote", BootArgs{Extra: []bootargs.KV{{Key: "a", Value: "it's"}}}, "quote"},
		{"quote inside quotes", BootArgs{Extra: []bootargs.KV{{Key: "a", Value: `"x"y"`}}}, "inside"},
		{"lone quote", BootArgs{Extra: []bootargs.KV{{Key: "a", Value: `"`}}}, "quote"},
		{"space", BootArgs{Extra: []bootargs.KV{{Key: "a", Value: "b c"}}}, "whitespace"},
		{"quoted space", BootArgs{Extra: []bootargs.KV{{Key: "a", Value: "'b c'"}}}, "whitespace"},
		{"empty value", BootArgs{Extra: []bootargs.KV{{Key: "a", Value: ""}}}, "empty"},
		{"bad key", BootArgs{Extra: []bootargs.KV{{Key: "a=b", Value: "c"}}}, "name"},
		{"key with comma", BootArgs{Extra: []bootargs.KV{{Key: "a,b", Value: "c"}}}, "name"},
		{"reserved", BootArgs{Extra: []bootargs.KV{{Key: "noimport", Value: "true"}}}, "set NoImport"},
		{"duplicate", BootArgs{Extra: []bootargs.KV{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}}, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.b.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	ok := BootArgs{Console: "vga", Extra: []bootargs.KV{{Key: "zfs.arc_max", Value: "0x40000000"}, {Key: "x", Value: "'a,b'"}, {Key: "ipxe", Value: "${net0/mac}"}}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid args refused: %v", err)
	}
}

func TestPropsAndKernelDebugger(t *testing.T) {
	b := BootArgs{Console: "ttyb", NoImport: true, Extra: []bootargs.KV{{Key: "hostname", Value: "cn1"}}}
	props := b.Props()
	if got := JoinProps(props); got != b.String() || got != "console=ttyb,smartos=true,noimport=true,hostname=cn1" {
		t.Errorf("props %q, String %q", got, b.String())
	}
	for in, want := range map[string]string{"": "", "off": "", "load": "-k", "boot": "-kd"} {
		d, err := ParseKernelDebugger(in)
		if err != nil || d.Flags() != want {
			t.Errorf("%q: %q %v, want flags %q", in, d.Flags(), err, want)
		}
	}
	if _, err := ParseKernelDebugger("kd"); err == nil {
		t.Error("kd accepted")
	}
}
