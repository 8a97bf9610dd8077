package target

import (
	"gopkg.in/yaml.v3"

	"rackboot/internal/ipxe"
	"rackboot/internal/pxe"
)

func init() {
	register(Kind{Name: "iso", Firmware: "BIOS; UEFI when uefi: true",
		Doc:    "an ISO image booted whole by iPXE's sanboot over HTTP: {file, uefi}",
		Decode: decodeISO})
}

// ISO boots a whole CD image: iPXE attaches it as a SAN disk over HTTP
// (sanboot) and the firmware boots it. On BIOS iPXE emulates an El Torito
// CD (INT 13h); on UEFI iPXE's sanboot needs the image's own EFI boot
// loader and a firmware that reads ISO 9660 from a block device, which
// not every image and firmware pair does, so UEFI is the operator's
// choice (uefi: true) after trying it.
type ISO struct {
	Header
	Image File
	UEFI  bool
}

type isoSpec struct {
	File string `yaml:"file"`
	UEFI bool   `yaml:"uefi"`
}

func decodeISO(h Header, body *yaml.Node, dataDir string) (Target, error) {
	var s isoSpec
	if err := decodeStrict(body, &s); err != nil {
		return nil, err
	}
	p, err := localFile(s.File, dataDir)
	if err != nil {
		return nil, err
	}
	return &ISO{Header: h, Image: File{Name: servedName(h.ID, p), Path: p}, UEFI: s.UEFI}, nil
}

func (t *ISO) ID() string    { return t.Header.ID }
func (t *ISO) Title() string { return t.Header.Title }

func (t *ISO) Offered(c Client) error {
	switch {
	case c.SecureBoot:
		return errNotOffered("needs Secure Boot off (iPXE's sanboot)")
	case c.Arch.Firmware == pxe.UEFI && !t.UEFI:
		return errNotOffered("needs BIOS boot (CSM), or uefi: true for an image that boots on UEFI")
	}
	return nil
}

// IPXE: "sanboot --no-describe": the image is not an iSCSI/AoE disk to
// describe to the OS in an iBFT/aBFT table, just a CD to boot
// (iPXE's sanboot command).
func (t *ISO) IPXE(l Loader, _ Client) []ipxe.Stmt {
	return []ipxe.Stmt{ipxe.Echo("Booting " + t.Title() + " (the ISO image, over HTTP)"),
		ipxe.Command{Name: "sanboot", Args: []string{"--no-describe", l.URL(t.Image.Name)}, OnFail: "failed"}}
}

func (t *ISO) Files() []File { return []File{t.Image} }
