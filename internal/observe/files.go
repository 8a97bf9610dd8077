package observe

import (
	"io/fs"
	"strings"

	"rackboot/internal/events"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
	"rackboot/internal/target"
)

// kernelNeeds lists the files a kernel is started with: a target's
// initrds; a SmartOS platform's boot archive and, when the platform has one,
// the archive's hash.
func (o *Observer) kernelNeeds(kernel string) []string {
	if f, ok := o.targets[kernel]; ok {
		return f.Needs
	}
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

// fileKind sorts a served path for events and metrics: a target's kernel
// and initrds as kernel and archive, then SmartOS's and the iPXE builds by
// their names.
func (o *Observer) fileKind(p string) string {
	switch o.targets[p].Role {
	case target.RoleKernel:
		return events.KindKernel
	case target.RoleInitrd:
		return events.KindArchive
	}
	return fileKind(p)
}

// fileKind sorts a served path by its name alone.
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
