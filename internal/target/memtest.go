package target

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"rackboot/internal/ipxe"
	"rackboot/internal/pxe"
)

func init() {
	register(Kind{Name: "memtest", Firmware: "BIOS, UEFI (x86 only)",
		Doc:    "memtest86+, one image per firmware: {bios, efi} (rackboot offers the memtest key's own as item memtest)",
		Decode: decodeMemtest})
}

// Memtest is memtest86+: a bzImage-style .bin for BIOS and an .efi for
// UEFI, both taking Linux-style arguments.
type Memtest struct {
	Header
	Images map[pxe.Firmware]File // by firmware; absent: not offered there
}

type memtestSpec struct {
	BIOS string `yaml:"bios"`
	EFI  string `yaml:"efi"`
}

func decodeMemtest(h Header, body *yaml.Node, dataDir string) (Target, error) {
	var s memtestSpec
	if err := decodeStrict(body, &s); err != nil {
		return nil, err
	}
	t := &Memtest{Header: h, Images: map[pxe.Firmware]File{}}
	for fw, name := range map[pxe.Firmware]string{pxe.BIOS: s.BIOS, pxe.UEFI: s.EFI} {
		if name == "" {
			continue
		}
		p, err := localFile(name, dataDir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fw, err)
		}
		t.Images[fw] = File{Name: servedName(h.ID, p), Path: p, Role: RoleKernel}
	}
	if len(t.Images) == 0 {
		return nil, fmt.Errorf("name an image: bios, efi or both")
	}
	return t, nil
}

// BuiltinMemtest is the menu's own memtest item: the images the
// configuration's memtest key found, already served under served (their
// names below the roots, by firmware).
func BuiltinMemtest(served map[pxe.Firmware]string) *Memtest {
	t := &Memtest{Header: Header{ID: "memtest", Title: "Memtest86+ (memory test)"}, Images: map[pxe.Firmware]File{}}
	for fw, name := range served {
		if name != "" {
			t.Images[fw] = File{Name: name} // served by the firmware set, not by Files
		}
	}
	return t
}

func (t *Memtest) ID() string    { return t.Header.ID }
func (t *Memtest) Title() string { return t.Header.Title }

// Offered: memtest86+ runs on x86 only, and needs the image for the
// client's firmware; Secure Boot refuses it (it is not signed).
func (t *Memtest) Offered(c Client) error {
	switch {
	case c.SecureBoot:
		return errNotOffered("needs Secure Boot off (memtest86+ is not signed)")
	case c.Arch.CPU != "i386" && c.Arch.CPU != "x86_64":
		return errNotOffered("runs on x86 only")
	case t.Images[c.Arch.Firmware].Name == "":
		return errNotOffered("no image for " + string(c.Arch.Firmware))
	}
	return nil
}

// IPXE boots the image for the client's firmware; console=ttyS0,115200
// makes memtest86+ draw on the serial port too.
func (t *Memtest) IPXE(l Loader, c Client) []ipxe.Stmt {
	img, ok := t.Images[c.Arch.Firmware]
	if !ok {
		return []ipxe.Stmt{ipxe.Echo("No memtest86+ image for " + string(c.Arch.Firmware)), ipxe.Goto("failed")}
	}
	return []ipxe.Stmt{ipxe.Echo("Starting memtest86+"), ipxe.Imgfree(),
		ipxe.Kernel(l.URL(img.Name), "console=ttyS0,115200").OrGoto("failed"),
		ipxe.Boot().OrGoto("failed")}
}

func (t *Memtest) Files() []File {
	var out []File
	for _, fw := range []pxe.Firmware{pxe.BIOS, pxe.UEFI} {
		if f, ok := t.Images[fw]; ok && f.Path != "" {
			out = append(out, f)
		}
	}
	return out
}
