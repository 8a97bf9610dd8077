package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"rackboot/internal/bootargs"
	"rackboot/internal/events"
	"rackboot/internal/machines"
	"rackboot/internal/store/boltstore"
)

const testMAC = "52:54:00:12:34:56"

type machineServer struct {
	url    string
	tokens *Tokens
	log    *events.Log
	reg    *machines.Registry
	done   chan struct{}
}

func (ms *machineServer) client(token bool) *Client {
	c := &Client{Base: ms.url}
	if token {
		c.Token = ms.tokens.Token()
	}
	return c
}

func newMachineServer(t *testing.T) *machineServer {
	t.Helper()
	dir := t.TempDir()
	st, err := boltstore.Open(dir, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tokens, _, err := LoadTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	ms := &machineServer{tokens: tokens, log: events.NewLog(events.Options{}), reg: &machines.Registry{Store: st}, done: make(chan struct{})}
	srv := &Server{Token: tokens.Token, OpenReads: true}
	m := &Machines{
		Registry: ms.reg,
		Rules:    []machines.Rule{{Name: "qemu", MACPrefix: "52:54:00", Settings: machines.Settings{BootArgs: []bootargs.KV{{Key: "rack", Value: "7"}}}}},
		Events:   ms.log,
		Done:     ms.done,
		Check: func(_ context.Context, _ string, e machines.Effective) error {
			for _, item := range []string{e.Default, e.BootOnce} {
				if item == "missing" {
					return errors.New(`menu item "missing" is not offered; use one of: smartos, memtest`)
				}
			}
			return nil
		},
		HashPassword: func(p string) (string, error) { return "$5$salt$" + strings.Repeat("x", len(p)), nil },
		Menu: func(_ context.Context, mac, arch, features, base string) ([]byte, error) {
			return []byte(fmt.Sprintf("#!ipxe\n# %s %s %s features=%s\n", mac, arch, base, features)), nil
		},
	}
	m.Register(srv)
	RegisterTokenRotate(srv, tokens)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { close(ms.done); ts.Close() })
	ms.url = ts.URL
	return ms
}

func TestMachinesAuth(t *testing.T) {
	ms := newMachineServer(t)
	ctx := context.Background()
	anon := ms.client(false)
	if _, err := anon.PatchMachine(ctx, testMAC, machines.Patch{Name: machines.Value("cn1")}); status(err) != http.StatusUnauthorized {
		t.Errorf("patch without token: %v", err)
	}
	if _, err := anon.SetBootOnce(ctx, testMAC, "noimport"); status(err) != http.StatusUnauthorized {
		t.Errorf("boot-once without token: %v", err)
	}
	if err := anon.DeleteMachine(ctx, testMAC); status(err) != http.StatusUnauthorized {
		t.Errorf("delete without token: %v", err)
	}
	bad := &Client{Base: ms.url, Token: "rbt_wrong"}
	if _, err := bad.PatchMachine(ctx, testMAC, machines.Patch{Name: machines.Value("cn1")}); status(err) != http.StatusUnauthorized {
		t.Errorf("patch with a wrong token: %v", err)
	}
	// Reads are open.
	if list, err := anon.Machines(ctx); err != nil || len(list) != 0 {
		t.Errorf("list without token: %v %v", list, err)
	}
	// A rotated token replaces the old one at once.
	old := ms.client(true)
	tok, err := old.RotateToken(ctx)
	if err != nil || tok == old.Token {
		t.Fatalf("rotate: %q %v", tok, err)
	}
	if _, err := old.PatchMachine(ctx, testMAC, machines.Patch{}); status(err) != http.StatusUnauthorized {
		t.Errorf("the old token still works: %v", err)
	}
	if _, err := (&Client{Base: ms.url, Token: tok}).PatchMachine(ctx, testMAC, machines.Patch{}); err != nil {
		t.Errorf("the new token: %v", err)
	}
}

func TestMachinesCRUDAndValidation(t *testing.T) {
	ms := newMachineServer(t)
	ctx := context.Background()
	c := ms.client(true)
	if _, err := c.Machine(ctx, testMAC); status(err) != http.StatusNotFound {
		t.Errorf("unknown machine: %v", err)
	}
	v, err := c.PatchMachine(ctx, "52-54-00-12-34-56", machines.Patch{
		Name: machines.Value("cn1"), Labels: map[string]*string{"rack": ptr("7")}, RootPassword: "pw",
		BootArgs: machines.Value([]bootargs.KV{{Key: "hostname", Value: "cn1"}}), SkipMenu: machines.Value(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if v.MAC != testMAC || v.Name != "cn1" || v.RootShadow != "$5$salt$xx" || v.Labels["rack"] != "7" {
		t.Errorf("patched %+v", v.Machine)
	}
	if e := v.Effective; len(e.Rules) != 1 || len(e.BootArgs) != 2 || e.SkipMenu == nil || !*e.SkipMenu {
		t.Errorf("effective %+v", e)
	}
	for _, tt := range []struct {
		name string
		do   func() error
		want string
	}{
		{"bad mac", func() error { _, err := c.Machine(ctx, "not-a-mac"); return err }, "not a MAC address"},
		{"bad name", func() error {
			_, err := c.PatchMachine(ctx, testMAC, machines.Patch{Name: machines.Value("a b")})
			return err
		}, "name"},
		{"menu refuses", func() error {
			_, err := c.PatchMachine(ctx, testMAC, machines.Patch{Default: machines.Value("missing")})
			return err
		}, "not offered"},
		{"boot-once refused", func() error { _, err := c.SetBootOnce(ctx, testMAC, "missing"); return err }, "not offered"},
		{"shadow and password", func() error {
			_, err := c.PatchMachine(ctx, testMAC, machines.Patch{RootPassword: "a", RootShadow: machines.Value("$5$a$b")})
			return err
		}, "not both"},
		{"unknown field", func() error {
			resp, err := c.Send(ctx, http.MethodPatch, "/machines/"+testMAC, map[string]string{"colour": "red"})
			if err == nil {
				resp.Body.Close()
			}
			return err
		}, "unknown field"},
		{"empty boot-once", func() error {
			_, err := c.Send(ctx, http.MethodPost, "/machines/"+testMAC+"/boot-once", BootOnceRequest{})
			return err
		}, "item"},
	} {
		err := tt.do()
		if status(err) != http.StatusBadRequest || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want 400 mentioning %q", tt.name, err, tt.want)
		}
	}
	// A refused patch changed nothing.
	if v, _ := c.Machine(ctx, testMAC); v.Name != "cn1" || v.Default != "" || v.BootOnce != "" {
		t.Errorf("after refused patches: %+v", v.Machine)
	}
	v, err = c.SetBootOnce(ctx, testMAC, "noimport")
	if err != nil || v.BootOnce != "noimport" || v.Effective.BootOnce != "noimport" {
		t.Errorf("boot-once: %+v %v", v.Machine, err)
	}
	if v, err = c.SetBootOnce(ctx, testMAC, ""); err != nil || v.BootOnce != "" {
		t.Errorf("cancel boot-once: %+v %v", v.Machine, err)
	}
	menu, err := ms.client(false).MachineMenu(ctx, testMAC, "efi-x86_64")
	if err != nil || !strings.Contains(menu, testMAC+" efi-x86_64 http://127.0.0.1:") {
		t.Errorf("menu preview %q %v", menu, err)
	}
	resp, err := ms.client(false).Send(ctx, http.MethodGet, "/machines/"+testMAC+"/menu?arch=efi-x86_64&features=multiboot2", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), " features=multiboot2\n") {
		t.Errorf("menu preview with features: %q", body)
	}
	if err := c.DeleteMachine(ctx, testMAC); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteMachine(ctx, testMAC); status(err) != http.StatusNotFound {
		t.Errorf("second delete: %v", err)
	}
	// Unknown API paths answer JSON too.
	if _, err := c.Send(ctx, http.MethodGet, "/machines/"+testMAC+"/nothing", nil); status(err) != http.StatusNotFound {
		t.Errorf("unknown route: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestEventStream: a follower gets events live, as SSE, in order; a
// reconnect with Last-Event-ID replays what it missed; a machine seen only
// in events is listed before the registry has it.
func TestEventStream(t *testing.T) {
	ms := newMachineServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The raw protocol first.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ms.url+"/api/v1/events?follow=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != EventStream {
		t.Fatalf("Content-Type %q", ct)
	}
	ms.log.Publish(events.Event{MAC: testMAC, Type: events.TypeDHCP, IPXE: true, Msg: "DHCP DISCOVER", Arch: "bios"})
	br := bufio.NewReader(resp.Body)
	var lines []string
	for len(lines) < 3 || lines[len(lines)-1] != "" {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v (so far %q)", err, lines)
		}
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, ":") || strings.HasPrefix(line, "retry:") || (line == "" && len(lines) == 0) {
			continue
		}
		lines = append(lines, line)
	}
	if lines[0] != "id: 1" || lines[1] != "event: boot" || !strings.Contains(lines[2], `"stage":"ipxe-dhcp"`) {
		t.Errorf("SSE message %q", lines)
	}

	// The client, following one machine.
	got := make(chan events.Event, 10)
	go ms.client(false).FollowEvents(ctx, testMAC, 0, func(ev events.Event) { got <- ev }, nil)
	time.Sleep(100 * time.Millisecond) // let it subscribe
	ms.log.Publish(events.Event{MAC: "52:54:00:00:00:99", Type: events.TypeDHCP})
	ms.log.Publish(events.Event{MAC: testMAC, Type: events.TypeMenu, Item: "smartos"})
	select {
	case ev := <-got:
		if ev.MAC != testMAC || ev.Type != events.TypeMenu || ev.Stage != events.StageMenu || ev.Seq != 3 {
			t.Errorf("followed %+v", ev)
		}
	case <-ctx.Done():
		t.Fatal("no event on the stream")
	}

	// Reconnecting after event 1 replays 2 and 3, then goes on live.
	replay := make(chan events.Event, 10)
	go ms.client(false).FollowEvents(ctx, "", 1, func(ev events.Event) { replay <- ev }, nil)
	for _, want := range []uint64{2, 3} {
		select {
		case ev := <-replay:
			if ev.Seq != want {
				t.Errorf("replayed seq %d, want %d", ev.Seq, want)
			}
		case <-ctx.Done():
			t.Fatal("no replay")
		}
	}

	// History and listing.
	evs, err := ms.client(false).MachineEvents(ctx, testMAC)
	if err != nil || len(evs) != 2 {
		t.Errorf("machine events %d %v", len(evs), err)
	}
	recent, err := ms.client(false).Events(ctx, "", 1, 0)
	if err != nil || len(recent) != 2 {
		t.Errorf("recent after 1: %d %v", len(recent), err)
	}
	list, err := ms.client(false).Machines(ctx)
	if err != nil || len(list) != 2 || list[1].Boot == nil || list[1].Boot.Stage != events.StageMenu {
		t.Errorf("machines from events: %+v %v", list, err)
	}

	// The OS calls back with a plain GET.
	r2, err := http.Get(ms.url + "/api/v1/machines/" + testMAC + "/booted")
	if err != nil || r2.StatusCode != 200 {
		t.Fatalf("booted: %v %v", r2, err)
	}
	io.Copy(io.Discard, r2.Body)
	r2.Body.Close()
	if b, _ := ms.log.Boot(testMAC); b.Result != "OS up" || b.Stage != events.StageUp {
		t.Errorf("after the callback: %+v", b)
	}
}
