package server

import (
	"testing"

	"rackboot/internal/smartos"
)

const buildNew = "20250101T000000Z"

func TestKernelBuild(t *testing.T) {
	for p, want := range map[string]string{
		"smartos/" + buildNew + "/" + smartos.KernelFile:  buildNew,
		"/smartos/" + buildNew + "/" + smartos.KernelFile: buildNew,
		"smartos/" + buildNew + "/" + smartos.ArchiveFile: "",
		"memtest/memtest86+x64.bin":                       "",
	} {
		if got := kernelBuild(p); got != want {
			t.Errorf("kernelBuild(%q) = %q, want %q", p, got, want)
		}
	}
}
