//go:build !unix

package progress

import "os"

// IsTerminal reports whether f is a terminal. Without terminal ioctls, a
// character device is taken for one.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func terminalWidth(*os.File) int { return 0 }
