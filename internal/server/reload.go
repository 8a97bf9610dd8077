package server

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"gopkg.in/yaml.v3"

	"rackboot/internal/config"
	"rackboot/internal/machines"
	"rackboot/internal/menu"
	"rackboot/internal/pxe"
	"rackboot/internal/store"
	"rackboot/internal/target"
)

// Option adjusts a Server at New.
type Option func(*Server)

// WithLogLevel lets Reload change the log level: level is the one the
// logger given to New filters by.
func WithLogLevel(level *slog.LevelVar) Option {
	return func(s *Server) { s.reload.level = level }
}

// liveKeys are the configuration keys Reload applies to a running server:
// everything the menu is made of (a new renderer is swapped in whole, so a
// menu being rendered sees the old settings or the new, never a mix) and
// the log level. Every other key is read once at start: the sockets and
// addresses (interface, advertise, *_addr, dhcp.*), the files served
// (ipxe_dir, memtest.*, targets, data_dir), the store, the cluster, the
// limits, api.open_reads and smartos.mirror (the importer's).
var liveKeys = []string{"log_level", "menu", "smartos", "machines"}

// restartOnly are keys under a live key that are not live: the importer's
// mirror, and the rules' BMC defaults (the power operator's, read at
// start), which keyValues sets apart from the rest of the rules.
var restartOnly = []string{"smartos.mirror", rulesBMCKey}

const rulesBMCKey = "machines.rules.bmc"

// isLive says whether Reload applies key (a dotted path, e.g. menu.title).
func isLive(key string) bool {
	for _, k := range restartOnly {
		if key == k || strings.HasPrefix(key, k+".") {
			return false
		}
	}
	for _, k := range liveKeys {
		if key == k || strings.HasPrefix(key, k+".") {
			return true
		}
	}
	return false
}

// reloadState is what Reload works from: the configuration in effect
// (the start's, with the live keys of the last reload) and the log level.
type reloadState struct {
	mu      sync.Mutex
	applied config.Config
	level   *slog.LevelVar // nil: the log level is not live
}

// Reloaded says what a Reload did, by key.
type Reloaded struct {
	Applied []string // changed, and in effect now
	Restart []string // changed, but in effect only after a restart
}

// Reload applies cfg, which Validate has accepted, to the running server
// where that is safe (liveKeys), and reports the changed keys that need a
// restart, which it leaves as they were. On error nothing changes: the
// whole new menu is built before it replaces the old one.
func (s *Server) Reload(cfg config.Config) (Reloaded, error) {
	s.reload.mu.Lock()
	defer s.reload.mu.Unlock()
	live := func(k string) bool { return isLive(k) && (k != "log_level" || s.reload.level != nil) }
	// Live keys against what is in effect; the others against the
	// start, since they stay as they were until a restart.
	sinceReload, err := changedKeys(s.reload.applied, cfg)
	if err != nil {
		return Reloaded{}, err
	}
	sinceStart, err := changedKeys(s.cfg, cfg)
	if err != nil {
		return Reloaded{}, err
	}
	var r Reloaded
	for _, k := range sinceReload {
		if live(k) {
			r.Applied = append(r.Applied, k)
		}
	}
	for _, k := range sinceStart {
		if !live(k) {
			r.Restart = append(r.Restart, k)
		}
	}
	// The live keys from cfg, the rest as they are.
	next := s.reload.applied
	next.LogLevel, next.Menu, next.Machines = cfg.LogLevel, cfg.Menu, cfg.Machines
	mirror := next.SmartOS.Mirror
	next.SmartOS = cfg.SmartOS
	next.SmartOS.Mirror = mirror
	// Everything that can fail before anything changes: an error leaves
	// the server as it was, never half reloaded.
	var level slog.Level
	if s.reload.level != nil {
		if err := level.UnmarshalText([]byte(next.LogLevel)); err != nil {
			return Reloaded{}, fmt.Errorf("log_level: %w", err)
		}
	}
	if len(r.Applied) > 0 {
		renderer, err := s.menu.rebuild(next)
		if err != nil {
			return Reloaded{}, err
		}
		if err := s.menu.replace(renderer); err != nil {
			return Reloaded{}, err
		}
	}
	if s.reload.level != nil {
		s.reload.level.Set(level)
	}
	s.reload.applied = next
	return r, nil
}

// changedKeys are the dotted keys (e.g. menu.title, dhcp.subnets) whose
// values differ between a and b, sorted. Lists and leaves compare whole.
func changedKeys(a, b config.Config) ([]string, error) {
	ma, err := keyValues(a)
	if err != nil {
		return nil, err
	}
	mb, err := keyValues(b)
	if err != nil {
		return nil, err
	}
	var keys []string
	for k, v := range ma {
		if w, ok := mb[k]; !ok || !reflect.DeepEqual(v, w) {
			keys = append(keys, k)
		}
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// keyValues flattens c, as its YAML file writes it, to dotted keys. The
// rules' bmc settings are taken out of machines.rules into
// machines.rules.bmc (rulesBMCKey), with the name, MAC prefix and labels
// of each rule that has them.
func keyValues(c config.Config) (map[string]any, error) {
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, err
	}
	var tree map[string]any
	if err := yaml.Unmarshal(b, &tree); err != nil {
		return nil, err
	}
	out := map[string]any{}
	var bmcs []any // [name, bmc] of the rules with one
	if m, ok := tree["machines"].(map[string]any); ok {
		rules, _ := m["rules"].([]any)
		for _, r := range rules {
			rm, ok := r.(map[string]any)
			if !ok {
				continue
			}
			if rm["bmc"] != nil {
				// What the rule matches is part of its BMC defaults: the
				// operator matches with the start's rules until a restart.
				bmcs = append(bmcs, []any{rm["name"], rm["mac_prefix"], rm["labels"], rm["bmc"]})
			}
			delete(rm, "bmc")
		}
	}
	out[rulesBMCKey] = bmcs
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			for k, sub := range m {
				walk(prefix+k+".", sub)
			}
			return
		}
		out[strings.TrimSuffix(prefix, ".")] = v
	}
	walk("", tree)
	return out, nil
}

// liveMenu is the menu renderer in effect: Reload swaps in a new one.
type liveMenu struct {
	current atomic.Pointer[menu.Renderer]
	rebuild func(config.Config) (*menu.Renderer, error)
	// mu orders CheckStart (Run) and replace (a SIGHUP's Reload, which
	// may come before Run): every renderer served was checked against
	// baseURL once it is known.
	mu      sync.Mutex
	baseURL string // CheckStart's; "" until Run has it
}

// newMenu is the menu serve gives every machine (newRenderer), built again
// by Reload from each new configuration.
func newMenu(cfg config.Config, log *slog.Logger, memtest map[pxe.Firmware]string, targets []target.Target,
	registry *machines.Registry, st store.Store, onServed func(menu.Served)) (*liveMenu, error) {
	return newLiveMenu(cfg, func(cfg config.Config) (*menu.Renderer, error) {
		return newRenderer(cfg, log, memtest, targets, registry, st, onServed)
	})
}

// newLiveMenu builds the first renderer with build, which Reload calls
// again with each new configuration.
func newLiveMenu(cfg config.Config, build func(config.Config) (*menu.Renderer, error)) (*liveMenu, error) {
	r, err := build(cfg)
	if err != nil {
		return nil, err
	}
	m := &liveMenu{rebuild: build}
	m.current.Store(r)
	return m, nil
}

func (m *liveMenu) now() *menu.Renderer { return m.current.Load() }

// Rules are the machine rules in effect.
func (m *liveMenu) Rules() []machines.Rule { return m.now().Rules }

// CheckStart checks the menu against the URL clients reach it on (see
// menu.Renderer.CheckStart), and keeps the URL to check reloaded menus.
func (m *liveMenu) CheckStart(baseURL string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.baseURL = baseURL
	return m.now().CheckStart(baseURL)
}

// replace swaps r in after the start's check (a menu no client could be
// served is refused, and the old one stays).
func (m *liveMenu) replace(r *menu.Renderer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := r.CheckStart(m.baseURL); err != nil {
		return err
	}
	m.current.Store(r)
	return nil
}

func (m *liveMenu) CheckMachine(mac string, eff machines.Effective) error {
	return m.now().CheckMachine(mac, eff)
}

func (m *liveMenu) Render(ctx context.Context, req menu.Request) ([]byte, error) {
	return m.now().Render(ctx, req)
}

func (m *liveMenu) Preview(ctx context.Context, req menu.Request) ([]byte, error) {
	return m.now().Preview(ctx, req)
}

// RenderGRUB is the grub.cfg of a Secure Boot machine (menu.Renderer.RenderGRUB).
func (m *liveMenu) RenderGRUB(ctx context.Context, req menu.Request) ([]byte, error) {
	return m.now().RenderGRUB(ctx, req)
}

// SecureBoot says whether the machine is marked Secure Boot, by its
// setting or the rules in effect.
func (m *liveMenu) SecureBoot(ctx context.Context, mac string) bool {
	return m.now().SecureBoot(ctx, mac)
}
