package observe

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"rackboot/internal/events"
	"rackboot/internal/httpd"
	"rackboot/internal/machines"
	"rackboot/internal/menu"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
	"rackboot/internal/store/boltstore"
)

const testBuild = "20250214T000000Z"

// TestFileEvents: HTTP files of a machine (named by its menu request) lead
// its boot to "booted kernel" once the kernel, the archive and its hash are
// in; file kinds follow the SmartOS layout.
func TestFileEvents(t *testing.T) {
	prefix := "smartos/" + testBuild + "/"
	o := New(Options{Files: fstest.MapFS{
		prefix + smartos.KernelFile:  {Data: []byte("kernel")},
		prefix + smartos.ArchiveFile: {Data: make([]byte, 1000)},
		prefix + smartos.HashFile:    {Data: []byte("hash")},
	}})
	defer o.Close()
	hw, _ := net.ParseMAC("52:54:00:12:34:56")
	client := netip.MustParseAddr("10.0.0.9")
	o.MenuServed(menu.Served{Request: menu.Request{MAC: hw, Arch: pxe.ArchBIOS, Client: client}, Item: "smartos", Bytes: 100})
	for _, f := range []struct {
		path  string
		bytes int64
	}{{prefix + smartos.KernelFile, 6}, {prefix + smartos.ArchiveFile, 1000}} {
		o.HTTP(httpd.FileEvent{Client: client, Path: f.path, Status: 200, Bytes: f.bytes})
	}
	b, _ := o.Events.Boot(hw.String())
	if b.Stage != events.StageArchive || b.Finished {
		t.Fatalf("before the hash: %+v", b)
	}
	o.HTTP(httpd.FileEvent{Client: client, Path: prefix + smartos.HashFile, Status: 200, Bytes: 4})
	if b, _ = o.Events.Boot(hw.String()); b.Stage != events.StageBootedKernel || b.Result != "booted kernel" {
		t.Errorf("after the hash: %+v", b)
	}
	for path, kind := range map[string]string{
		prefix + smartos.KernelFile:  events.KindKernel,
		prefix + smartos.ArchiveFile: events.KindArchive,
		prefix + smartos.HashFile:    events.KindHash,
		"memtest/memtest86+x64.bin":  events.KindKernel,
		"undionly.kpxe":              events.KindNBP,
		"arm64/snponly.efi":          events.KindNBP,
		"README":                     events.KindOther,
	} {
		if got := fileKind(path); got != kind {
			t.Errorf("fileKind(%q) = %s, want %s", path, got, kind)
		}
	}
}

// TestPeerSyncIsNoBoot: another server of the cluster fetching a platform
// (the Syncer's User-Agent) from the address of a machine seen booting does
// not move that machine's boot; the same file fetched by iPXE does.
func TestPeerSyncIsNoBoot(t *testing.T) {
	prefix := "smartos/" + testBuild + "/"
	o := New(Options{Files: fstest.MapFS{prefix + smartos.KernelFile: {Data: []byte("kernel")}}})
	defer o.Close()
	hw, _ := net.ParseMAC("52:54:00:12:34:57")
	client := netip.MustParseAddr("10.0.0.10")
	o.MenuServed(menu.Served{Request: menu.Request{MAC: hw, Arch: pxe.ArchBIOS, Client: client}, Item: "smartos", Bytes: 100})
	before, _ := o.Events.Boot(hw.String())
	n := len(o.Events.Machine(hw.String()))
	kernel := httpd.FileEvent{Client: client, Path: prefix + smartos.KernelFile, Status: 200, Bytes: 6,
		UserAgent: smartos.SyncUserAgent + " (b)"}
	o.HTTP(kernel)
	o.HTTPProgress(httpd.FileProgress{Client: client, Path: kernel.Path, Bytes: 3, Total: 6, UserAgent: kernel.UserAgent})
	if b, _ := o.Events.Boot(hw.String()); b.Stage != before.Stage || len(o.Events.Machine(hw.String())) != n {
		t.Fatalf("a peer's sync moved the boot: %+v, was %+v", b, before)
	}
	kernel.UserAgent = "iPXE/1.0.0+"
	o.HTTP(kernel)
	if b, _ := o.Events.Boot(hw.String()); b.Stage != events.StageKernel {
		t.Fatalf("iPXE's kernel fetch did not: %+v", b)
	}
}

// TestRecorderStop: the recorder writes what it holds when serve stops,
// before the store closes.
func TestRecorderStop(t *testing.T) {
	dir := t.TempDir()
	st, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := New(Options{Files: os.DirFS(dir), Registry: &machines.Registry{Store: st}})
	o.Events.Publish(events.Event{MAC: "52:54:00:00:00:01", Type: events.TypeDHCP, Arch: "bios"})
	o.Close()
	if _, err := (&machines.Registry{Store: st}).Get(context.Background(), "52:54:00:00:00:01"); err != nil {
		t.Errorf("the machine was not written before stop: %v", err)
	}
	st.Close()
	if _, err := os.Stat(filepath.Join(dir, boltstore.FileName)); err != nil {
		t.Error(err)
	}
}
