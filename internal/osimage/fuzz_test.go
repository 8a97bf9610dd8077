package osimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostileTar is a tar stream (not gzipped) of the entries given, in order.
func hostileTar(entries ...tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		body := "x"
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		tw.WriteHeader(&h)
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// FuzzUntar: a tarball from a mirror is untrusted input. Whatever it holds
// (names that climb out or are absolute, links out, a link then a file
// through it, hard links, devices, truncation), untar never panics, writes
// nothing outside its directory and makes no link inside it.
func FuzzUntar(f *testing.F) {
	f.Add(hostileTar(tar.Header{Name: "debian-installer/amd64/linux", Typeflag: tar.TypeReg, Mode: 0o644}))
	f.Add(hostileTar(tar.Header{Name: "../evil", Typeflag: tar.TypeReg}))
	f.Add(hostileTar(tar.Header{Name: "/tmp/evil", Typeflag: tar.TypeReg}))
	f.Add(hostileTar(tar.Header{Name: "a/../../evil", Typeflag: tar.TypeReg}))
	f.Add(hostileTar(tar.Header{Name: "out", Typeflag: tar.TypeSymlink, Linkname: ".."},
		tar.Header{Name: "out/evil", Typeflag: tar.TypeReg}))
	f.Add(hostileTar(tar.Header{Name: "etc", Typeflag: tar.TypeSymlink, Linkname: "/etc"},
		tar.Header{Name: "etc/evil", Typeflag: tar.TypeReg}))
	f.Add(hostileTar(tar.Header{Name: "passwd", Typeflag: tar.TypeLink, Linkname: "/etc/passwd"}))
	f.Add(hostileTar(tar.Header{Name: "d", Typeflag: tar.TypeDir}, tar.Header{Name: "d", Typeflag: tar.TypeReg},
		tar.Header{Name: "d/x", Typeflag: tar.TypeReg}, tar.Header{Name: "d/x", Typeflag: tar.TypeReg}))
	f.Add(hostileTar(tar.Header{Name: "null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3},
		tar.Header{Name: "fifo", Typeflag: tar.TypeFifo}))
	f.Add(hostileTar(tar.Header{Name: "./.\\..\\evil", Typeflag: tar.TypeReg})[:700])
	f.Fuzz(func(t *testing.T, stream []byte) {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(stream)
		zw.Close()
		parent := t.TempDir()
		src := filepath.Join(parent, "in.tar.gz")
		dir := filepath.Join(parent, "dir")
		os.WriteFile(src, gz.Bytes(), 0o644)
		os.Mkdir(dir, 0o755)
		in, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		(&Importer{}).untar(context.Background(), in, dir)
		top, _ := os.ReadDir(parent)
		if len(top) != 2 {
			t.Fatalf("written beside the directory: %v", top)
		}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.Type().IsRegular() && !d.IsDir() {
				t.Fatalf("%s: a %s made", strings.TrimPrefix(p, dir), d.Type())
			}
			return nil
		})
	})
}
