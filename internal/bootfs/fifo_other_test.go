//go:build !linux && !freebsd && !darwin

package bootfs

import "errors"

func mkfifo(string) error { return errors.New("no mkfifo") }
