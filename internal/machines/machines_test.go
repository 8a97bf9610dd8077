package machines

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"rackboot/internal/bootargs"
	"rackboot/internal/events"
	"rackboot/internal/store/boltstore"
)

const mac = "52:54:00:12:34:56"

func newRegistry(t *testing.T) *Registry {
	t.Helper()
	st, err := boltstore.Open(t.TempDir(), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Registry{Store: st}
}

func yes() *bool { v := true; return &v }

func TestPatchNullVersusAbsent(t *testing.T) {
	m := Machine{MAC: mac, Name: "cn1", Labels: map[string]string{"rack": "7", "role": "cn"},
		Settings: Settings{Default: "smartos", SkipMenu: yes(), BootArgs: []bootargs.KV{{Key: "hostname", Value: "cn1"}, {Key: "admin_nic", Value: "x"}}}}
	var p Patch
	body := `{"name": null, "labels": {"role": null, "row": "b"}, "skip_menu": null,
		"boot_args": [{"key": "hostname", "value": "cn2"}, {"key": "new", "value": "1"}], "remove_boot_args": ["admin_nic"]}`
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	p.Apply(&m)
	if m.Name != "" || m.Default != "smartos" || m.SkipMenu != nil {
		t.Errorf("null should clear name and skip_menu, absent keep default: %+v", m)
	}
	if len(m.Labels) != 2 || m.Labels["rack"] != "7" || m.Labels["row"] != "b" {
		t.Errorf("labels %v", m.Labels)
	}
	want := []bootargs.KV{{Key: "hostname", Value: "cn2"}, {Key: "new", Value: "1"}}
	if got, _ := json.Marshal(m.BootArgs); string(got) != mustJSON(want) {
		t.Errorf("boot args %s, want %s", got, mustJSON(want))
	}
	// A client's patch encodes back the same way: absent fields left out.
	out, _ := json.Marshal(Patch{Name: Null[string](), BootOnce: Value("noimport")})
	if string(out) != `{"name":null,"boot_once":"noimport"}` {
		t.Errorf("patch encodes as %s", out)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestValidate(t *testing.T) {
	bad := []Machine{
		{MAC: "nope"},
		{MAC: mac, Name: "has space"},
		{MAC: mac, Labels: map[string]string{"rack": "a b"}},
		{MAC: mac, BootOnce: "smartos noimport"},
		{MAC: mac, Settings: Settings{Default: "-x"}},
		{MAC: mac, Settings: Settings{BootArgs: []bootargs.KV{{Key: "1bad", Value: "x"}}}},
		{MAC: mac, Settings: Settings{BootArgs: []bootargs.KV{{Key: "a", Value: "1"}, {Key: "a", Value: "2"}}}},
		{MAC: mac, Settings: Settings{RootShadow: "plaintext"}},
	}
	for _, m := range bad {
		if err := m.Validate(); err == nil {
			t.Errorf("%+v: no error", m)
		}
	}
	good := Machine{MAC: mac, Name: "cn1.rack7", Labels: map[string]string{"rack": "7"}, BootOnce: "smartos-noimport",
		Settings: Settings{Default: "smartos-20250214T000000Z", RootShadow: "$5$abc$def", BootArgs: []bootargs.KV{{Key: "ttyb-mode", Value: `"115200,8,n,1,-"`}}}}
	if err := good.Validate(); err != nil {
		t.Error(err)
	}
	if s, err := CanonicalMAC("52-54-00-12-34-56"); err != nil || s != mac {
		t.Errorf("CanonicalMAC: %q %v", s, err)
	}
}

func TestResolveRules(t *testing.T) {
	rules := []Rule{
		{Name: "all", Settings: Settings{Default: "smartos", BootArgs: []bootargs.KV{{Key: "a", Value: "1"}, {Key: "b", Value: "1"}}}},
		{Name: "qemu", MACPrefix: "52:54:00", Settings: Settings{SkipMenu: yes(), BootArgs: []bootargs.KV{{Key: "b", Value: "2"}}}},
		{Name: "rack7", Labels: map[string]string{"rack": "7"}, Settings: Settings{Default: "memtest"}},
		{Name: "other", MACPrefix: "aa:bb", Settings: Settings{Default: "exit"}},
	}
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	m := Machine{MAC: mac, Labels: map[string]string{"rack": "7"}, BootOnce: "shell",
		Settings: Settings{BootArgs: []bootargs.KV{{Key: "c", Value: "3"}, {Key: "a", Value: "9"}}}}
	e := Resolve(m, rules)
	if strings.Join(e.Rules, ",") != "all,qemu,rack7" {
		t.Errorf("rules %v", e.Rules)
	}
	if e.Default != "memtest" || e.SkipMenu == nil || !*e.SkipMenu || e.BootOnce != "shell" {
		t.Errorf("effective %+v", e)
	}
	if mustJSON(e.BootArgs) != mustJSON([]bootargs.KV{{Key: "a", Value: "9"}, {Key: "b", Value: "2"}, {Key: "c", Value: "3"}}) {
		t.Errorf("boot args %v", e.BootArgs)
	}
	// The machine's own setting wins over the rules.
	m.Default = "exit"
	if e := Resolve(m, rules); e.Default != "exit" {
		t.Errorf("machine default lost to a rule: %q", e.Default)
	}
	if (Rule{Name: "x", MACPrefix: "zz"}).Validate() == nil {
		t.Error("bad prefix accepted")
	}
}

func TestRegistry(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t)
	if _, err := r.Get(ctx, mac); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get unknown: %v", err)
	}
	if _, err := r.Update(ctx, mac, false, func(m *Machine) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Update unknown without create: %v", err)
	}
	m, err := r.Update(ctx, mac, true, func(m *Machine) error { m.Name = "cn1"; return nil })
	if err != nil || m.Name != "cn1" {
		t.Fatalf("create: %+v %v", m, err)
	}
	if _, err := r.Update(ctx, mac, false, func(m *Machine) error { m.Name = "bad name"; return nil }); err == nil {
		t.Fatal("an invalid update was stored")
	}
	if got, _ := r.Get(ctx, mac); got.Name != "cn1" {
		t.Errorf("after a refused update: %+v", got)
	}
	list, err := r.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list %v %v", list, err)
	}
	if err := r.Delete(ctx, mac); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, mac); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

// TestBootOnceConsumedOnce: many menus served at once for one machine; the
// boot-once item goes to exactly one of them.
func TestBootOnceConsumedOnce(t *testing.T) {
	ctx := context.Background()
	r := newRegistry(t)
	if _, err := r.Update(ctx, mac, true, func(m *Machine) error { m.BootOnce = "smartos-noimport"; return nil }); err != nil {
		t.Fatal(err)
	}
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := r.ClearBootOnce(ctx, mac, "smartos-noimport")
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Errorf("boot-once consumed %d times, want exactly 1", won.Load())
	}
	if m, _ := r.Get(ctx, mac); m.BootOnce != "" {
		t.Errorf("boot-once still set: %q", m.BootOnce)
	}
	// A changed boot-once is not consumed by a menu built with the old one.
	r.Update(ctx, mac, false, func(m *Machine) error { m.BootOnce = "shell"; return nil })
	if ok, _ := r.ClearBootOnce(ctx, mac, "smartos-noimport"); ok {
		t.Error("cleared a boot-once that had changed")
	}
}

func TestRecorder(t *testing.T) {
	r := newRegistry(t)
	l := events.NewLog(events.Options{})
	sub := l.Subscribe("", 1024)
	rec := &Recorder{Registry: r, Interval: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- rec.Run(ctx, sub.C) }()

	t0 := time.Now()
	l.Publish(events.Event{Time: t0, MAC: mac, Type: events.TypeDHCP, Arch: "bios", UUID: "00112233", VendorClass: "PXEClient:Arch:00000", IP: "10.0.0.9"})
	l.Publish(events.Event{Time: t0.Add(time.Second), MAC: mac, Type: events.TypeMenu, Item: "smartos-1"})
	l.Publish(events.Event{Time: t0.Add(2 * time.Second), MAC: mac, Type: events.TypeHTTP, Kind: events.KindKernel, File: "k", Bytes: 3})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	m, err := r.Get(context.Background(), mac)
	if err != nil {
		t.Fatal(err)
	}
	if m.Arch != "bios" || m.UUID != "00112233" || m.LastIP != "10.0.0.9" || m.VendorClass == "" || m.FirstSeen.IsZero() {
		t.Errorf("registered %+v", m)
	}
	if len(m.Boots) != 1 || m.Boots[0].Result != "booted kernel" || m.Boots[0].Item != "smartos-1" || m.Boots[0].Stages["kernel"] != 1000 {
		t.Errorf("boots %+v", m.Boots)
	}
	// Summaries are bounded.
	for i := 0; i < KeepBoots+5; i++ {
		addBoot(&m, BootSummary{Started: t0.Add(time.Duration(i) * time.Hour)})
	}
	if len(m.Boots) != KeepBoots {
		t.Errorf("%d boots kept", len(m.Boots))
	}
}
