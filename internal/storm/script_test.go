package storm

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// rackbootMenu is the shape of the menu rackboot generates (see
// internal/menu/testdata): isset guard, a menu, choose --default, labels.
const rackbootMenu = `#!ipxe
# rackboot menu for 52:54:00:12:34:56 (bios).
isset ${menu-timeout} || set menu-timeout 30000

:start
menu rackboot
item --gap -- ------------------- SmartOS 20250101T000000Z -------------------
item smartos-20250101T000000Z Boot SmartOS 20250101T000000Z
item smartos-20250101T000000Z-noimport Boot SmartOS 20250101T000000Z noimport
item --gap -- -------------------------- Utilities ---------------------------
item shell iPXE shell
item exit Exit (boot local disk)
choose --default smartos-20250101T000000Z --timeout ${menu-timeout} target || goto shell
goto ${target}

:smartos-20250101T000000Z
echo Booting SmartOS 20250101T000000Z
imgfree
kernel http://10.0.0.1/smartos/20250101T000000Z/platform/i86pc/kernel/amd64/unix -B console=text,smartos=true || goto failed
module http://10.0.0.1/smartos/20250101T000000Z/platform/i86pc/amd64/boot_archive type=rootfs name=ramdisk || goto failed
boot || goto failed

:smartos-20250101T000000Z-noimport
kernel http://10.0.0.1/smartos/20250101T000000Z/platform/i86pc/kernel/amd64/unix -B noimport=true || goto failed
module http://10.0.0.1/other || goto failed
boot || goto failed

:shell
shell
goto start

:exit
exit

:failed
prompt --timeout 10000 Back to the menu in 10s || goto start
goto start
`

// seedMenu is the seed blog's bootstrap.ipxe, with its labels.
const seedMenu = `#!ipxe
set remote-root
set smartos-build 20130808T195337Z
menu Welcome to iPXE's Boot Menu
item --gap -- ------------------------- SmartOS option 1 ------------------------------
item smartos            Boot SmartOS (${smartos-build})
item smartos_noimport   Boot SmartOS (${smartos-build}) noimport
item memtest    Memtest86+ 5.01
choose --default smartos --timeout 30000 target && goto ${target}

:smartos
kernel ${remote-root}/smartos/${smartos-build}/platform/i86pc/kernel/amd64/unix -B console=text,smartos=true
module ${remote-root}/smartos/${smartos-build}/platform/i86pc/amd64/boot_archive
boot || goto start

:memtest
kernel ${remote-root}/memtest86/memtest86-5.01
boot || goto start
`

func TestPlanScript(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		vars         map[string]string
		want         bootPlan
	}{
		{"rackboot menu", rackbootMenu, nil, bootPlan{
			Item:    "smartos-20250101T000000Z",
			Kernel:  "http://10.0.0.1/smartos/20250101T000000Z/platform/i86pc/kernel/amd64/unix",
			Modules: []string{"http://10.0.0.1/smartos/20250101T000000Z/platform/i86pc/amd64/boot_archive"},
		}},
		{"seed menu, relative URLs", seedMenu, nil, bootPlan{
			Item:    "smartos",
			Kernel:  "/smartos/20130808T195337Z/platform/i86pc/kernel/amd64/unix",
			Modules: []string{"/smartos/20130808T195337Z/platform/i86pc/amd64/boot_archive"},
		}},
		{"menu default is exit", strings.Replace(rackbootMenu, "--default smartos-20250101T000000Z", "--default exit", 1),
			nil, bootPlan{Item: "exit", Exit: true}},
		{"no default: first item", strings.Replace(rackbootMenu, "--default smartos-20250101T000000Z ", "", 1),
			nil, bootPlan{
				Item:    "smartos-20250101T000000Z",
				Kernel:  "http://10.0.0.1/smartos/20250101T000000Z/platform/i86pc/kernel/amd64/unix",
				Modules: []string{"http://10.0.0.1/smartos/20250101T000000Z/platform/i86pc/amd64/boot_archive"},
			}},
		{"rackboot's rechain for a bare /boot.ipxe",
			"#!ipxe\nchain http://10.0.0.1/boot.ipxe?mac=${mac}&platform=${platform}&buildarch=${buildarch}\n",
			map[string]string{"mac": "02:00:00:00:00:01", "platform": "pcbios", "buildarch": "i386"},
			bootPlan{Chain: "http://10.0.0.1/boot.ipxe?mac=02:00:00:00:00:01&platform=pcbios&buildarch=i386"}},
		{"rackboot's loop-breaker script", "#!ipxe\necho rackboot: iPXE is already running, loading the menu\n" +
			"chain --autofree --replace http://10.0.0.1/boot.ipxe?mac=02:00:00:00:00:01&arch=bios || goto failed\n:failed\nshell\n",
			nil, bootPlan{Chain: "http://10.0.0.1/boot.ipxe?mac=02:00:00:00:00:01&arch=bios"}},
		{"isset keeps a value set before", "#!ipxe\nset x a\nisset ${x} || set x b\nkernel http://h/${x}\nboot\n",
			nil, bootPlan{Kernel: "http://h/a"}},
		{"isset sets an unset value", "#!ipxe\nisset ${x} || set x b\nkernel http://h/${x}\nboot\n",
			nil, bootPlan{Kernel: "http://h/b"}},
		{"iseq and &&", "#!ipxe\niseq ${platform} efi && goto efi\nkernel http://h/bios\nboot\n:efi\nkernel http://h/efi\nboot\n",
			map[string]string{"platform": "efi"}, bootPlan{Kernel: "http://h/efi"}},
		{"kernel options and continued lines", "#!ipxe\nkernel --name k --timeout 5000 \\\n  http://h/k arg=1\ninitrd -n r http://h/r\nboot\n",
			nil, bootPlan{Kernel: "http://h/k", Modules: []string{"http://h/r"}}},
		{"a new kernel drops earlier modules", "#!ipxe\nkernel http://h/a\nmodule http://h/m\nkernel http://h/b\nmodule http://h/n\nboot\n",
			nil, bootPlan{Kernel: "http://h/b", Modules: []string{"http://h/n"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range tc.vars {
				vars[k] = v
			}
			got, err := planScript([]byte(tc.script), vars)
			if err != nil {
				t.Fatal(err)
			}
			if got.Item != tc.want.Item || got.Chain != tc.want.Chain || got.Kernel != tc.want.Kernel ||
				got.Exit != tc.want.Exit || !slices.Equal(got.Modules, tc.want.Modules) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPlanScriptErrors(t *testing.T) {
	for _, tc := range []struct{ name, script, want string }{
		{"loop", "#!ipxe\n:a\ngoto a\n", "a loop"},
		{"unknown label", "#!ipxe\ngoto nowhere\n", "no such label"},
		{"shell", "#!ipxe\nshell\n", "needs a human"},
		{"boot without kernel", "#!ipxe\nboot\n", "no kernel"},
		{"no boot", "#!ipxe\nkernel http://h/k\n", "without `boot`"},
		{"nothing", "#!ipxe\necho hello\n", "without booting"},
		{"empty menu", "#!ipxe\nmenu\nchoose target\n", "without items"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := planScript([]byte(tc.script), map[string]string{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	base, _ := url.Parse("http://10.0.0.1/ipxe/bootstrap.ipxe")
	tftpBase := &url.URL{Scheme: "tftp", Host: "10.0.0.1", Path: "/"}
	for _, tc := range []struct {
		base      *url.URL
		ref, want string
	}{
		{base, "/smartos/x/unix", "http://10.0.0.1/smartos/x/unix"},
		{base, "menu2.ipxe", "http://10.0.0.1/ipxe/menu2.ipxe"},
		{base, "http://10.0.0.9/k", "http://10.0.0.9/k"},
		{tftpBase, "undionly.kpxe", "tftp://10.0.0.1/undionly.kpxe"},
		{tftpBase, "http://10.0.0.1/boot.ipxe?mac=aa&arch=bios", "http://10.0.0.1/boot.ipxe?mac=aa&arch=bios"},
	} {
		got, err := resolve(tc.base, tc.ref)
		if err != nil || got.String() != tc.want {
			t.Errorf("resolve(%v, %q) = %v, %v; want %s", tc.base, tc.ref, got, err, tc.want)
		}
	}
}
