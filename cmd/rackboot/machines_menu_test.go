package main

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"rackboot/internal/bootargs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"rackboot/internal/boot"
	"rackboot/internal/config"
	"rackboot/internal/events"
	"rackboot/internal/httpd"
	"rackboot/internal/machines"
	"rackboot/internal/menu"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
	"rackboot/internal/store/boltstore"
)

const testBuild = "20250214T000000Z"

// newTestMachines is machineServices over a real store, with one platform
// in the files it serves.
func newTestMachines(t *testing.T, rules ...config.MachineRule) (*machineServices, *machines.Registry) {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	prefix := "smartos/" + testBuild + "/"
	files := fstest.MapFS{
		prefix + smartos.KernelFile:  {Data: []byte("kernel")},
		prefix + smartos.ArchiveFile: {Data: make([]byte, 1000)},
		prefix + smartos.HashFile:    {Data: []byte("hash")},
	}
	cfg := config.Default()
	cfg.Machines.Rules = rules
	m, err := newMachineServices(cfg, slog.New(slog.DiscardHandler), new(boot.Sightings), files)
	if err != nil {
		t.Fatal(err)
	}
	reg := &machines.Registry{Store: st}
	m.registry = reg
	return m, reg
}

func platformList() []smartos.Platform {
	return []smartos.Platform{{Build: testBuild, KernelPath: "smartos/" + testBuild + "/" + smartos.KernelFile,
		ArchivePath: "smartos/" + testBuild + "/" + smartos.ArchiveFile, HashPath: "smartos/" + testBuild + "/" + smartos.HashFile, HasHash: true}}
}

func menuRequest() httpd.MenuRequest {
	hw, _ := net.ParseMAC("52:54:00:12:34:56")
	return httpd.MenuRequest{MAC: hw, Arch: pxe.ArchBIOS, BaseURL: "http://10.0.0.1", Client: netip.MustParseAddr("10.0.0.9")}
}

func builder(r httpd.MenuRequest) menuBuilder {
	return func(o menu.Options) ([]byte, error) {
		s, err := menu.Build(o, platformList(), r.Arch, r.MAC.String())
		if err != nil {
			return nil, err
		}
		return s.Render(), nil
	}
}

func baseMenu() menu.Options {
	return menu.Options{Title: "rackboot", Timeout: 30 * time.Second, BaseURL: "http://10.0.0.1", Console: "text"}
}

// TestBootOnceServedOnce: many menus served at once to a machine with a
// boot-once: exactly one of them starts on it, and every later menu starts
// on the default again.
func TestBootOnceServedOnce(t *testing.T) {
	m, reg := newTestMachines(t)
	ctx := context.Background()
	r := menuRequest()
	if _, err := reg.Update(ctx, r.MAC.String(), true, func(mc *machines.Machine) error {
		mc.BootOnce = "noimport"
		mc.Name = "cn1"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A preview shows the boot-once without using it up.
	preview, err := m.menu(ctx, baseMenu(), r, builder(r), true)
	if err != nil || !strings.Contains(string(preview), "--default smartos-"+testBuild+"-noimport ") {
		t.Fatalf("preview: %v\n%s", err, preview)
	}
	const n = 12
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		noimport int
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			script, err := m.menu(ctx, baseMenu(), r, builder(r), false)
			if err != nil {
				t.Error(err)
				return
			}
			if !strings.Contains(string(script), "menu rackboot - cn1\n") {
				t.Errorf("the machine's name is not in its menu title")
			}
			if strings.Contains(string(script), "--default smartos-"+testBuild+"-noimport ") {
				mu.Lock()
				noimport++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if noimport != 1 {
		t.Errorf("%d of %d menus started on the boot-once item, want exactly 1", noimport, n)
	}
	if mc, _ := reg.Get(ctx, r.MAC.String()); mc.BootOnce != "" {
		t.Errorf("boot-once still set after the menus: %q", mc.BootOnce)
	}
	once := 0
	for _, ev := range m.events.Machine(r.MAC.String()) {
		if ev.Type == events.TypeMenu && ev.BootOnce {
			once++
		}
	}
	if once != 1 {
		t.Errorf("%d menu events say boot-once, want 1", once)
	}
}

// TestMachineMenuRules: a rule's settings and the machine's own reach its
// menu, the machine's winning.
func TestMachineMenuRules(t *testing.T) {
	skip := true
	m, reg := newTestMachines(t, config.MachineRule{Name: "qemu", MACPrefix: "52:54:00", SkipMenu: &skip,
		Default: testBuild, BootArgs: config.BootArgs{{Key: "hostname", Value: "rack"}, {Key: "admin_nic", Value: "x"}}})
	ctx := context.Background()
	r := menuRequest()
	reg.Update(ctx, r.MAC.String(), true, func(mc *machines.Machine) error {
		mc.BootArgs = []bootargs.KV{{Key: "hostname", Value: "cn1"}}
		return nil
	})
	script, err := m.menu(ctx, baseMenu(), r, builder(r), false)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"--default smartos-" + testBuild + " ",
		"set menu-timeout 100\n",
		",hostname=cn1,admin_nic=x",
	} {
		if !strings.Contains(string(script), want) {
			t.Errorf("menu lacks %q:\n%s", want, script)
		}
	}
}

// TestFileEvents: HTTP files of a machine (named by its menu request) lead
// its boot to "booted kernel" once the kernel, the archive and its hash are
// in; file kinds follow the SmartOS layout.
func TestFileEvents(t *testing.T) {
	m, _ := newTestMachines(t)
	ctx := context.Background()
	r := menuRequest()
	if _, err := m.menu(ctx, baseMenu(), r, builder(r), false); err != nil {
		t.Fatal(err)
	}
	prefix := "smartos/" + testBuild + "/"
	for _, f := range []struct {
		path  string
		bytes int64
	}{{prefix + smartos.KernelFile, 6}, {prefix + smartos.ArchiveFile, 1000}} {
		m.httpFile(httpd.FileEvent{Client: r.Client, Path: f.path, Status: 200, Bytes: f.bytes})
	}
	b, _ := m.events.Boot(r.MAC.String())
	if b.Stage != events.StageArchive || b.Finished {
		t.Fatalf("before the hash: %+v", b)
	}
	m.httpFile(httpd.FileEvent{Client: r.Client, Path: prefix + smartos.HashFile, Status: 200, Bytes: 4})
	if b, _ = m.events.Boot(r.MAC.String()); b.Stage != events.StageBootedKernel || b.Result != "booted kernel" {
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

// TestRecorderStop: the recorder writes what it holds when serve
// stops, before the store closes.
func TestRecorderStop(t *testing.T) {
	dir := t.TempDir()
	st, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := newMachineServices(config.Default(), slog.New(slog.DiscardHandler), new(boot.Sightings), os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	wait := m.startRecorder(context.Background(), &machines.Registry{Store: st})
	m.events.Publish(events.Event{MAC: "52:54:00:00:00:01", Type: events.TypeDHCP, Arch: "bios"})
	m.events.Close()
	wait()
	if _, err := (&machines.Registry{Store: st}).Get(context.Background(), "52:54:00:00:00:01"); err != nil {
		t.Errorf("the machine was not written before stop: %v", err)
	}
	st.Close()
	if _, err := os.Stat(filepath.Join(dir, boltstore.FileName)); err != nil {
		t.Error(err)
	}
}
