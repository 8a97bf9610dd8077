//go:build linux

package e2e

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"testing"
)

// ArchiveSize is the size of a fixture's boot_archive: a few MiB, like a
// small real one, and deliberately not a multiple of any block size.
const ArchiveSize = 3<<20 + 12345

// Fixture is a fake SmartOS platform laid out as rackboot's data directory
// expects it:
//
//	<dataDir>/smartos/<build>/platform/i86pc/kernel/amd64/unix     the test kernel
//	<dataDir>/smartos/<build>/platform/i86pc/amd64/boot_archive    pseudo-random bytes
//	<dataDir>/smartos/<build>/platform/i86pc/amd64/boot_archive.hash  SHA-1 hex of it
type Fixture struct {
	Build   string
	Dir     string // <dataDir>/smartos/<build>
	Kernel  FixtureFile
	Archive FixtureFile
	Hash    FixtureFile
}

// FixtureFile is one file of a fixture, with what the test kernel will report
// about it once loaded.
type FixtureFile struct {
	Path    string // on disk
	URLPath string // under the data directory, as served over HTTP: /smartos/<build>/...
	Size    int64
	CRC32   uint32 // CRC-32/IEEE, as the test kernel prints it
}

// MakePlatform writes a fixture for build into dataDir. The archive's bytes
// depend only on build, so two builds have different archives and a run is
// reproducible.
func MakePlatform(t testing.TB, dataDir, build string) Fixture {
	t.Helper()
	kernel, err := os.ReadFile(TestKernel(t))
	if err != nil {
		t.Fatal(err)
	}
	archive := pseudoRandom(build, ArchiveSize)
	sum := sha1.Sum(archive)
	hash := []byte(hex.EncodeToString(sum[:]) + "\n")

	rel := path.Join("smartos", build)
	fx := Fixture{Build: build, Dir: filepath.Join(dataDir, filepath.FromSlash(rel))}
	write := func(relPath string, data []byte, mode os.FileMode) FixtureFile {
		p := filepath.Join(dataDir, filepath.FromSlash(relPath))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		return FixtureFile{Path: p, URLPath: "/" + relPath, Size: int64(len(data)), CRC32: crc32.ChecksumIEEE(data)}
	}
	fx.Kernel = write(path.Join(rel, "platform/i86pc/kernel/amd64/unix"), kernel, 0o755)
	fx.Archive = write(path.Join(rel, "platform/i86pc/amd64/boot_archive"), archive, 0o644)
	fx.Hash = write(path.Join(rel, "platform/i86pc/amd64/boot_archive.hash"), hash, 0o644)
	return fx
}

// pseudoRandom returns n bytes from a ChaCha8 stream seeded by seed.
func pseudoRandom(seed string, n int) []byte {
	key := sha256.Sum256([]byte("rackboot e2e fixture " + seed))
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}
