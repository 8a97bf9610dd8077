//go:build !unix

package storm

import (
	"fmt"
	"runtime"
)

func clientSockopts(uintptr, string) error {
	return fmt.Errorf("the boot storm simulator needs Linux, FreeBSD or illumos, not %s", runtime.GOOS)
}
