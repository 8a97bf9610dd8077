package observe

import (
	"io/fs"
	"strings"

	"rackboot/internal/events"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
)

// kernelNeeds lists the files a SmartOS kernel is started with: its boot
// archive and, when the platform has one, the archive's hash.
func (o *Observer) kernelNeeds(kernel string) []string {
	prefix, ok := strings.CutSuffix(kernel, smartos.KernelFile)
	if !ok {
		return nil // memtest86+ and friends start alone
	}
	needs := []string{prefix + smartos.ArchiveFile}
	if _, err := fs.Stat(o.files, prefix+smartos.HashFile); err == nil {
		needs = append(needs, prefix+smartos.HashFile)
	}
	return needs
}

// fileKind sorts a served path for events and metrics.
func fileKind(p string) string {
	switch {
	case strings.HasSuffix(p, "/"+smartos.KernelFile), strings.HasPrefix(p, "memtest/"):
		return events.KindKernel
	case strings.HasSuffix(p, "/"+smartos.ArchiveFile):
		return events.KindArchive
	case strings.HasSuffix(p, "/"+smartos.HashFile):
		return events.KindHash
	case isNBP(p):
		return events.KindNBP
	}
	return events.KindOther
}

// isNBP reports whether p is one of the iPXE builds handed to firmware.
func isNBP(p string) bool {
	for _, a := range []pxe.Arch{pxe.ArchBIOS, pxe.ArchEFIx8664, pxe.ArchEFIi386, pxe.ArchEFIARM64, pxe.ArchEFIARM32} {
		for _, f := range pxe.BootFiles(a) {
			if f == p {
				return true
			}
		}
	}
	return false
}
