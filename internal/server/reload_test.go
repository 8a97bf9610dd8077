package server

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"

	"rackboot/internal/config"
	"rackboot/internal/menu"
	"rackboot/internal/pxe"
)

// TestReload: a reload applies the menu, the machine rules and the log
// level to the running server at once, names the changed keys that need a
// restart and leaves them as they were, and refuses a menu no client could
// be served, keeping the old one.
func TestReload(t *testing.T) {
	cfg := loopbackConfig(t)
	var level slog.LevelVar
	s, err := New(cfg, slog.New(slog.DiscardHandler), WithLogLevel(&level))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mac, _ := net.ParseMAC("52:54:00:00:00:01")
	menuText := func() string {
		b, err := s.menu.Preview(context.Background(), menu.Request{MAC: mac, Arch: pxe.ArchBIOS, BaseURL: "http://127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if !strings.Contains(menuText(), "rackboot") {
		t.Fatalf("menu before the reload has not the default title:\n%s", menuText())
	}

	next := cfg
	next.Menu.Title = "rack7 boot"
	next.LogLevel = "debug"
	next.Machines.Rules = []config.MachineRule{{Name: "qemu", MACPrefix: "52:54:00", Default: "exit"}}
	next.HTTP.MaxConnections = 100                  // read at start
	next.SmartOS.Mirror = "https://mirror.invalid/" // the importer's: read at start
	if err := next.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := s.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"log_level", "machines.rules", "menu.title"}; !slices.Equal(r.Applied, want) {
		t.Errorf("applied %q, want %q", r.Applied, want)
	}
	if want := []string{"http.max_connections", "smartos.mirror"}; !slices.Equal(r.Restart, want) {
		t.Errorf("need a restart: %q, want %q", r.Restart, want)
	}
	if got := menuText(); !strings.Contains(got, "rack7 boot") {
		t.Errorf("menu after the reload has not the new title:\n%s", got)
	}
	if rules := s.menu.Rules(); len(rules) != 1 || rules[0].Name != "qemu" {
		t.Errorf("rules after the reload: %+v", rules)
	}
	if level.Level() != slog.LevelDebug {
		t.Errorf("log level %v after the reload, want debug", level.Level())
	}
	if s.reload.applied.HTTP.MaxConnections == 100 || s.reload.applied.SmartOS.Mirror != "" {
		t.Errorf("restart-only keys were taken: %+v %q", s.reload.applied.HTTP, s.reload.applied.SmartOS.Mirror)
	}

	// The same file again: nothing more applied; the restart keys are
	// still pending.
	r, err = s.Reload(next)
	if err != nil || len(r.Applied) != 0 || len(r.Restart) != 2 {
		t.Errorf("reloading the same configuration: %+v, %v", r, err)
	}

	// A rule's BMC settings are the power operator's, read at start:
	// changing only them applies nothing, and stays pending.
	withBMC := next
	withBMC.Machines.Rules = []config.MachineRule{{Name: "qemu", MACPrefix: "52:54:00", Default: "exit",
		BMC: &config.RuleBMC{User: "admin"}}}
	for range 2 {
		r, err = s.Reload(withBMC)
		if err != nil || len(r.Applied) != 0 || !slices.Contains(r.Restart, "machines.rules.bmc") {
			t.Errorf("reloading a rule's bmc: %+v, %v", r, err)
		}
	}

	bad := next
	bad.Menu.Title = "never shown"
	bad.Menu.Default = "nosuchitem"
	if err := bad.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reload(bad); err == nil {
		t.Error("a menu.default naming no item was reloaded")
	}
	if got := menuText(); !strings.Contains(got, "rack7 boot") {
		t.Errorf("a refused reload changed the menu:\n%s", got)
	}
}

func TestIsLive(t *testing.T) {
	for key, want := range map[string]bool{
		"menu.title": true, "smartos.boot_args": true, "smartos.root_password": true, "machines.rules": true,
		"log_level": true, "smartos.mirror": false, "interface": false, "dhcp.mode": false, "dhcp.subnets": false,
		"memtest.bios": false, "targets": false, "api.open_reads": false, "menus": false, "machines.rules.bmc": false,
	} {
		if got := isLive(key); got != want {
			t.Errorf("isLive(%q) = %v, want %v", key, got, want)
		}
	}
}

// TestReloadAllOrNothing: a reload that fails changes nothing, not even
// the parts that would have passed (here the menu, with a log level that
// does not parse), and a SIGHUP's reload racing Run's start check (serve
// installs the handler before Run) is ordered with it.
func TestReloadAllOrNothing(t *testing.T) {
	cfg := loopbackConfig(t)
	var level slog.LevelVar
	s, err := New(cfg, slog.New(slog.DiscardHandler), WithLogLevel(&level))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := s.menu.now()
	bad := cfg
	bad.Menu.Title = "half reloaded"
	bad.LogLevel = "loud"
	if _, err := s.Reload(bad); err == nil {
		t.Fatal("a log level that does not parse was reloaded")
	}
	if s.menu.now() != before {
		t.Error("the failed reload swapped the menu in anyway")
	}

	next := cfg
	next.Menu.Title = "rack7 boot"
	done := make(chan error, 1)
	go func() { _, err := s.Reload(next); done <- err }()
	if err := s.menu.CheckStart("http://127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestReloadRuleWithBMC: moving a rule that gives BMC defaults to other
// machines (its labels) changes which machines get them, which the power
// operator learns only at a restart: the reload applies the rule to the
// menu and says machines.rules.bmc needs a restart.
func TestReloadRuleWithBMC(t *testing.T) {
	cfg := loopbackConfig(t)
	cfg.Machines.Rules = []config.MachineRule{{Name: "rack7", Labels: map[string]string{"rack": "7"}, BMC: &config.RuleBMC{User: "admin"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	next := cfg
	next.Machines.Rules = []config.MachineRule{{Name: "rack7", Labels: map[string]string{"rack": "8"}, BMC: &config.RuleBMC{User: "admin"}}}
	r, err := s.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Applied, []string{"machines.rules"}) || !slices.Equal(r.Restart, []string{"machines.rules.bmc"}) {
		t.Errorf("moving a rule with BMC defaults: applied %q, restart %q; want machines.rules applied, machines.rules.bmc pending", r.Applied, r.Restart)
	}
}
