// Package durable makes what an import wrote survive a power cut before it
// is renamed into place: fsync(2) of files and of the directories that
// name them (a rename is durable only once its directory is synced).
package durable

import (
	"io/fs"
	"os"
	"path/filepath"
)

// Sync fsyncs the file or directory at p.
func Sync(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Tree fsyncs every directory below dir, and every regular file too when
// files is set (a writer that synced its files as it wrote them leaves it
// unset). Symbolic links are not followed.
func Tree(dir string, files bool) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (files && d.Type().IsRegular()) {
			return Sync(p)
		}
		return nil
	})
}
