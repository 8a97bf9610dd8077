package menuimport

import (
	"os"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzImport: rackboot ipxe import reads any hand-written script; it never
// panics, and the configuration it writes is YAML that reads back.
func FuzzImport(f *testing.F) {
	if b, err := os.ReadFile("../../cmd/rackboot/testdata/bootstrap.ipxe"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"#!ipxe\nset base http://10.0.0.5/boot\nmenu Lab\nitem deb Debian\nitem xyz x\nitem r R\nchoose --default deb --timeout 0 t && goto ${t}\n:deb\nkernel ${base}/debian/linux priority=low\ninitrd ${base}/debian/initrd.gz\nboot\n:xyz\nchain --autofree https://boot.netboot.xyz\n:r\nsanboot ${base}/iso/r.iso\n",
		"#!ipxe\nmenu\nitem smartos S\nchoose x\nkernel /smartos/20130808T195337Z/platform/i86pc/kernel/amd64/unix -B root_shadow='$5$a',console=ttyb\nmodule\nboot\n",
		"item a\nitem a\nchoose --default a\n:a\nkernel\ninitrd\nchain\nsanboot\n",
		"item 0 zero\nitem -x y\nchoose --timeout -5\n:0\nkernel http:// -B\n:-x\nchain ftp://h/x ${\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := Import("fuzz.ipxe", b)
		out, err := yaml.Marshal(r.Config)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var back Config
		if err := yaml.Unmarshal(out, &back); err != nil {
			t.Fatalf("the written configuration does not read back: %v\n%s", err, out)
		}
	})
}
