package menu

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"rackboot/internal/bootargs"
	"rackboot/internal/machines"
	"rackboot/internal/pxe"
	"rackboot/internal/smartos"
	"rackboot/internal/smartos/smartostest"
	"rackboot/internal/store/boltstore"
)

const renderBuild = "20250214T000000Z"

// newTestRenderer is a Renderer over a real store and a data directory
// with one platform; served collects what it tells OnServed.
func newTestRenderer(t *testing.T, rules ...machines.Rule) (r *Renderer, reg *machines.Registry, served func() []Served) {
	t.Helper()
	dir := t.TempDir()
	smartostest.Tree(t, filepath.Join(dir, smartos.PlatformsSubdir, renderBuild), renderBuild, 1000)
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg = &machines.Registry{Store: st}
	var (
		mu  sync.Mutex
		got []Served
	)
	r = &Renderer{
		Options:  Options{Title: "rackboot", Timeout: 30 * time.Second, Console: "text", DataDir: dir},
		Registry: reg,
		Rules:    rules,
		OnServed: func(s Served) { mu.Lock(); got = append(got, s); mu.Unlock() },
	}
	return r, reg, func() []Served { mu.Lock(); defer mu.Unlock(); return append([]Served(nil), got...) }
}

func renderRequest() Request {
	hw, _ := net.ParseMAC("52:54:00:12:34:56")
	return Request{MAC: hw, Arch: pxe.ArchBIOS, BaseURL: "http://10.0.0.1", Client: netip.MustParseAddr("10.0.0.9")}
}

// TestBootOnceServedOnce: many menus served at once to a machine with a
// boot-once: exactly one of them starts on it, and every later menu starts
// on the default again.
func TestBootOnceServedOnce(t *testing.T) {
	r, reg, served := newTestRenderer(t)
	ctx := context.Background()
	req := renderRequest()
	if _, err := reg.Update(ctx, req.MAC.String(), true, func(mc *machines.Machine) error {
		mc.BootOnce = "noimport"
		mc.Name = "cn1"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A preview shows the boot-once without using it up.
	preview, err := r.Preview(ctx, req)
	if err != nil || !strings.Contains(string(preview), "--default smartos-"+renderBuild+"-noimport ") {
		t.Fatalf("preview: %v\n%s", err, preview)
	}
	if n := len(served()); n != 0 {
		t.Errorf("a preview told OnServed (%d)", n)
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
			script, err := r.Render(ctx, req)
			if err != nil {
				t.Error(err)
				return
			}
			if !strings.Contains(string(script), "menu rackboot - cn1\n") {
				t.Errorf("the machine's name is not in its menu title")
			}
			once := strings.Contains(string(script), "--default smartos-"+renderBuild+"-noimport ")
			if once {
				mu.Lock()
				noimport++
				mu.Unlock()
			}
			// The boot-once boots without the countdown; the menus after
			// it count down as configured.
			if immediate := strings.Contains(string(script), "set menu-timeout 100\n"); immediate != once {
				t.Errorf("boot-once menu %v, countdown skipped %v:\n%s", once, immediate, script)
			}
		}()
	}
	wg.Wait()
	if noimport != 1 {
		t.Errorf("%d of %d menus started on the boot-once item, want exactly 1", noimport, n)
	}
	if mc, _ := reg.Get(ctx, req.MAC.String()); mc.BootOnce != "" {
		t.Errorf("boot-once still set after the menus: %q", mc.BootOnce)
	}
	once := 0
	for _, s := range served() {
		if s.BootOnce {
			once++
		}
	}
	if all := served(); once != 1 || len(all) != n {
		t.Errorf("%d of %d menus served say boot-once, want 1 of %d", once, len(all), n)
	}
}

// TestMachineMenuRules: a rule's settings and the machine's own reach its
// menu, the machine's winning.
func TestMachineMenuRules(t *testing.T) {
	skip := true
	r, reg, served := newTestRenderer(t, machines.Rule{Name: "qemu", MACPrefix: "52:54:00",
		Settings: machines.Settings{SkipMenu: &skip, Default: renderBuild,
			BootArgs: []bootargs.KV{{Key: "hostname", Value: "rack"}, {Key: "admin_nic", Value: "x"}}}})
	ctx := context.Background()
	req := renderRequest()
	reg.Update(ctx, req.MAC.String(), true, func(mc *machines.Machine) error {
		mc.BootArgs = []bootargs.KV{{Key: "hostname", Value: "cn1"}}
		return nil
	})
	script, err := r.Render(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"--default smartos-" + renderBuild + " ",
		"set menu-timeout 100\n",
		",hostname=cn1,admin_nic=x",
	} {
		if !strings.Contains(string(script), want) {
			t.Errorf("menu lacks %q:\n%s", want, script)
		}
	}
	if s := served(); len(s) != 1 || s[0].Item != SmartOSID(renderBuild) || !s[0].SkipMenu || s[0].Bytes != len(script) {
		t.Errorf("served: %+v", s)
	}
}

// TestCheckStart: a default naming a build not on disk (yet) only warns;
// bad boot arguments are refused, with a sentinel to match.
func TestCheckStart(t *testing.T) {
	r, _, _ := newTestRenderer(t)
	r.Options.Default = "smartos-20990101T000000Z"
	if err := r.CheckStart("http://10.0.0.1"); err != nil {
		t.Errorf("a default build not imported yet: %v", err)
	}
	r.Options.BootArgs = []bootargs.KV{{Key: "a", Value: "b,c"}}
	if err := r.CheckStart("http://10.0.0.1"); !errors.Is(err, ErrBootArgs) {
		t.Errorf("bad boot arguments: %v, want ErrBootArgs", err)
	}
	r.Options.BootArgs = nil
	r.Options.Default = "memtest"
	if err := r.CheckStart("http://10.0.0.1"); !errors.Is(err, ErrUnknownDefault) {
		t.Errorf("memtest without memtest: %v, want ErrUnknownDefault", err)
	}
}
