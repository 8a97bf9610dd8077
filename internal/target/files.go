package target

import (
	"fmt"
	"os"
)

// regularFile checks that p is a regular file (after links): a directory,
// a FIFO or a device would hang or fail a download at boot time.
func regularFile(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		if os.IsNotExist(err) {
			return fmt.Errorf("%s: no such file (rackboot os import puts installers under the data directory's os/)", p)
		}
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file", p)
	}
	return nil
}
