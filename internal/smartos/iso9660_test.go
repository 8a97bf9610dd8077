package smartos

import (
	"bytes"
	"os"
	"testing"

	"rackboot/internal/smartos/smartostest"
)

// FuzzISO feeds the reader mangled images: it must return an error or a
// tree, never panic, loop or allocate beyond the image's size.
func FuzzISO(f *testing.F) {
	for _, tool := range smartostest.ISOTools {
		smartostest.RequireTool(f, tool)
		dir := smartostest.Tree(f, f.TempDir(), buildA, 4<<10)
		writeFile(f, dir+"/platform/i86pc/amd64/"+longName, []byte("x"))
		b, err := os.ReadFile(smartostest.MakeISO(f, tool, dir, "SmartOS", f.TempDir()+"/s.iso"))
		if err != nil {
			f.Fatal(err)
		}
		// Keep the seeds small: no system area (the fuzz function adds
		// it), the descriptors, the directories and a little data.
		f.Add(b[16*isoSector : min(len(b), 40*isoSector)])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		b = append(make([]byte, 16*isoSector), b...)
		img, err := openISO(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		plat, _, err := img.lookup(img.root, "platform")
		if err != nil {
			return
		}
		files, total, err := (&Importer{}).isoTree(img, plat, "", 0)
		if err == nil && total > int64(len(b))*int64(len(files)+1) {
			t.Fatalf("%d bytes of files in a %d-byte image", total, len(b))
		}
	})
}
