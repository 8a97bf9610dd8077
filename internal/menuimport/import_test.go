package menuimport

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// A labelled menu of the other kinds: a Linux installer, a chain, an ISO
// and a script become targets; rackboot's own items stay its own.
func TestImportTargets(t *testing.T) {
	script := `#!ipxe
set base http://10.0.0.5/boot
menu Lab menu
item deb Debian installer
item xyz netboot.xyz
item rescue Rescue ISO
item lab Lab script
item shell Shell
choose --default deb --timeout 0 target && goto ${target}
:deb
kernel ${base}/debian/linux priority=low console=ttyS0,115200
initrd ${base}/debian/initrd.gz
boot || goto shell
:xyz
chain --autofree https://boot.netboot.xyz || goto shell
:rescue
sanboot ${base}/iso/rescue.iso
:lab
chain ${base}/lab.ipxe
:shell
shell
`
	r := Import("menu.ipxe", []byte(script))
	if len(r.Config.Targets) != 4 {
		t.Fatalf("targets: %+v", r.Config.Targets)
	}
	kinds := []string{}
	for _, s := range r.Config.Targets {
		kinds = append(kinds, s.ID+":"+s.Kind)
	}
	if got := strings.Join(kinds, " "); got != "deb:linux xyz:chain rescue:iso lab:ipxe" {
		t.Errorf("targets %s", got)
	}
	if r.Config.Menu.Default != "deb" || r.Config.Menu.Title != "Lab menu" || r.Config.Menu.Timeout == nil || r.Config.Menu.Timeout.Std() >= 0 {
		t.Errorf("menu %+v (iPXE's timeout 0 waits forever: rackboot's -1s)", r.Config.Menu)
	}
	deb := r.Config.Targets[0].Body
	var spec struct {
		Kernel  string   `yaml:"kernel"`
		Initrd  []string `yaml:"initrd"`
		Cmdline string   `yaml:"cmdline"`
	}
	if err := deb.Decode(&spec); err != nil || spec.Kernel != "boot/debian/linux" || spec.Initrd[0] != "boot/debian/initrd.gz" || spec.Cmdline != "priority=low console=ttyS0,115200" {
		t.Errorf("deb: %v %+v", err, spec)
	}
	// Files to copy are said, one line each.
	if n := strings.Count(strings.Join(r.Unmapped, "\n"), "copy the file"); n != 4 {
		t.Errorf("%d copy lines:\n%s", n, strings.Join(r.Unmapped, "\n"))
	}
	if len(r.Fixed) != 0 {
		t.Errorf("a clean script has nothing to fix: %v", r.Fixed)
	}
}

// A SmartOS item's extra -B arguments become smartos.boot_args, written
// as the mapping the configuration reads (not a list of key/value pairs,
// which rackboot serve refuses).
func TestImportBootArgsReadBack(t *testing.T) {
	r := Import("x.ipxe", []byte("#!ipxe\nmenu M\nitem smartos S\nchoose x && goto ${x}\n:smartos\n"+
		"kernel /smartos/20130808T195337Z/platform/i86pc/kernel/amd64/unix -B smartos=true,hostname=cn1,rack=r7\n"+
		"module /smartos/20130808T195337Z/platform/i86pc/amd64/boot_archive\nboot\n"))
	out, err := yaml.Marshal(r.Config)
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	if err := yaml.Unmarshal(out, &back); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if back.SmartOS == nil || len(back.SmartOS.BootArgs) != 2 || back.SmartOS.BootArgs[1].Key != "rack" || back.SmartOS.BootArgs[1].Value != "r7" {
		t.Errorf("boot_args read back: %+v\n%s", back.SmartOS, out)
	}
}

// A file the old web server served at its top goes to a subdirectory of
// data_dir: the top is rackboot's own state (a target's file there is
// refused, and "copy it to <data_dir>/api-token" would overwrite the
// API token).
func TestImportTopLevelFiles(t *testing.T) {
	r := Import("x.ipxe", []byte("#!ipxe\nmenu M\nitem a A\nchoose x && goto ${x}\n:a\n"+
		"kernel http://h/../../api-token\ninitrd http://h/initrd.gz\nboot\n"))
	out, _ := yaml.Marshal(r.Config)
	if !strings.Contains(string(out), "kernel: files/api-token") || !strings.Contains(string(out), "- files/initrd.gz") {
		t.Errorf("configuration:\n%s", out)
	}
	for _, u := range r.Unmapped {
		if strings.Contains(u, "<data_dir>/api-token") || strings.Contains(u, "<data_dir>/initrd.gz") {
			t.Errorf("advice: %s", u)
		}
	}
}
