//go:build !(linux || freebsd || illumos)

package ra

func listen(string) (conn, error) { return nil, ErrNotSupported }
