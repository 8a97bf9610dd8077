package api

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"sort"

	"rackboot/internal/events"
	"rackboot/internal/machines"
)

// MachineView is a machine as the API shows it: its registry entry, the
// settings in effect (after the rules), and its latest boot since rackboot
// started, live.
type MachineView struct {
	machines.Machine
	Effective machines.Effective `json:"effective"`
	Boot      *events.Boot       `json:"boot,omitempty"`
}

// BootOnceRequest is the body of POST /machines/{mac}/boot-once.
type BootOnceRequest struct {
	// Item is a menu item id, a platform build, or "noimport" (the
	// noimport form of the machine's default).
	Item string `json:"item"`
}

// Machines is the machine registry and the boot timeline as API resources.
type Machines struct {
	Registry *machines.Registry
	Rules    []machines.Rule
	// CurrentRules, when set, are the rules in effect now (serve
	// re-reads them on SIGHUP) and win over Rules.
	CurrentRules func() []machines.Rule
	Events       *events.Log
	// Check validates a machine's effective settings against the menu
	// (is the item offered, do the -B values parse); nil checks their
	// shape only. Its error is shown to the user as it is.
	Check func(ctx context.Context, mac string, e machines.Effective) error
	// HashPassword turns a root password into a root_shadow.
	HashPassword func(password string) (string, error)
	// Menu renders the menu the machine would get now, without consuming
	// its boot-once: arch as pxe.ParseArch reads it, features (iPXE's,
	// "" for none) as pxe.ParseFeatureList does, baseURL like
	// "http://10.0.0.1".
	Menu func(ctx context.Context, mac, arch, features, baseURL string) ([]byte, error)
	// Done ends live event streams (the server is stopping); nil: never.
	Done <-chan struct{}
	// OnDelete, if set, forgets what else is kept of a deleted machine
	// (its BMC settings).
	OnDelete func(ctx context.Context, mac string) error
}

// Register mounts the routes:
//
//	GET    /machines                      every machine (MachineView)
//	GET    /machines/{mac}                one machine
//	PATCH  /machines/{mac}                change its settings (machines.Patch); creates it if new
//	DELETE /machines/{mac}                forget it
//	POST   /machines/{mac}/boot-once      BootOnceRequest: the item for its next boot only
//	DELETE /machines/{mac}/boot-once      cancel that
//	GET    /machines/{mac}/events         its recorded events, oldest first
//	GET    /machines/{mac}/menu[?arch=]   the iPXE menu it would get now (text)
//	POST   /machines/{mac}/booted         the OS calls back: the boot is done
//	GET    /machines/{mac}/booted         the same, for a kernel command line or rc script
//	GET    /events[?mac=&after=&limit=]   recent events of every machine
//	GET    /events?follow=1[&mac=]        a live stream of events (text/event-stream)
func (m *Machines) Register(s *Server) {
	s.Handle("GET /machines", m.serveList)
	s.Handle("GET /machines/{mac}", m.serveGet)
	s.Handle("PATCH /machines/{mac}", m.servePatch)
	s.Handle("DELETE /machines/{mac}", m.serveDelete)
	s.Handle("POST /machines/{mac}/boot-once", m.serveBootOnce)
	s.Handle("DELETE /machines/{mac}/boot-once", m.serveClearBootOnce)
	s.Handle("GET /machines/{mac}/events", m.serveMachineEvents)
	s.Handle("GET /machines/{mac}/menu", m.serveMenu)
	s.Handle("POST /machines/{mac}/booted", m.serveBooted)
	s.Handle("GET /machines/{mac}/booted", m.serveBooted)
	s.Handle("GET /events", m.serveEvents)
}

// macParam reads and canonicalizes the {mac} of the path.
func macParam(r *http.Request) (string, error) {
	mac, err := machines.CanonicalMAC(r.PathValue("mac"))
	if err != nil {
		return "", Errorf(http.StatusBadRequest, "%v", err)
	}
	return mac, nil
}

// View returns the machine's view; a machine seen booting but not yet
// written to the registry (writes are batched) is shown from its boot.
func (m *Machines) View(ctx context.Context, mac string) (MachineView, error) {
	mc, err := m.Registry.Get(ctx, mac)
	if errors.Is(err, machines.ErrNotFound) {
		b, ok := m.Events.Boot(mac)
		if !ok {
			return MachineView{}, Errorf(http.StatusNotFound, "no machine %s: it has not booted from this server and was never set up (set it up with rackboot machines set)", mac)
		}
		mc = machines.Machine{MAC: mac, Arch: b.Arch, LastIP: b.IP, FirstSeen: b.Started, LastSeen: b.Updated}
	} else if err != nil {
		return MachineView{}, err
	}
	return m.view(mc), nil
}

func (m *Machines) rules() []machines.Rule {
	if m.CurrentRules != nil {
		return m.CurrentRules()
	}
	return m.Rules
}

func (m *Machines) view(mc machines.Machine) MachineView {
	v := MachineView{Machine: mc, Effective: machines.Resolve(mc, m.rules())}
	if b, ok := m.Events.Boot(mc.MAC); ok {
		v.Boot = &b
	}
	return v
}

// List returns every machine: the registry's, and those booting right now
// that it does not hold yet.
func (m *Machines) List(ctx context.Context) ([]MachineView, error) {
	list, err := m.Registry.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]MachineView, 0, len(list))
	known := map[string]bool{}
	for _, mc := range list {
		known[mc.MAC] = true
		out = append(out, m.view(mc))
	}
	for mac, b := range m.Events.Boots() {
		if !known[mac] {
			out = append(out, m.view(machines.Machine{MAC: mac, Arch: b.Arch, LastIP: b.IP, FirstSeen: b.Started, LastSeen: b.Updated}))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MAC < out[j].MAC })
	return out, nil
}

// Patch changes a machine's settings, creating its entry if it has none.
func (m *Machines) Patch(ctx context.Context, mac string, p machines.Patch) (MachineView, error) {
	if p.RootPassword != "" {
		if p.RootShadow.Set {
			return MachineView{}, Errorf(http.StatusBadRequest, "give root_password or root_shadow, not both")
		}
		if m.HashPassword == nil {
			return MachineView{}, Errorf(http.StatusBadRequest, "this server cannot hash passwords: give root_shadow")
		}
		h, err := m.HashPassword(p.RootPassword)
		if err != nil {
			return MachineView{}, Errorf(http.StatusBadRequest, "root_password: %v", err)
		}
		p.RootShadow, p.RootPassword = machines.Value(h), ""
	}
	mc, err := m.Registry.Update(ctx, mac, true, func(mc *machines.Machine) error {
		p.Apply(mc)
		if err := mc.Validate(); err != nil {
			return Errorf(http.StatusBadRequest, "%v", err)
		}
		if m.Check != nil {
			if err := m.Check(ctx, mac, machines.Resolve(*mc, m.rules())); err != nil {
				return Errorf(http.StatusBadRequest, "%v", err)
			}
		}
		return nil
	})
	if err != nil {
		return MachineView{}, err
	}
	return m.view(mc), nil
}

// Delete forgets a machine: its registry entry and its history.
func (m *Machines) Delete(ctx context.Context, mac string) error {
	err := m.Registry.Delete(ctx, mac)
	if errors.Is(err, machines.ErrNotFound) {
		if _, ok := m.Events.Boot(mac); !ok {
			return Errorf(http.StatusNotFound, "no machine %s", mac)
		}
		err = nil
	}
	if err == nil {
		m.Events.Forget(mac)
		if m.OnDelete != nil {
			err = m.OnDelete(ctx, mac)
		}
	}
	return err
}

func (m *Machines) serveList(w http.ResponseWriter, r *http.Request) error {
	list, err := m.List(r.Context())
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, list)
}

func (m *Machines) serveGet(w http.ResponseWriter, r *http.Request) error {
	mac, err := macParam(r)
	if err != nil {
		return err
	}
	v, err := m.View(r.Context(), mac)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, v)
}

func (m *Machines) servePatch(w http.ResponseWriter, r *http.Request) error {
	mac, err := macParam(r)
	if err != nil {
		return err
	}
	var p machines.Patch
	if err := DecodeJSON(r, &p); err != nil {
		return err
	}
	v, err := m.Patch(r.Context(), mac, p)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, v)
}

func (m *Machines) serveDelete(w http.ResponseWriter, r *http.Request) error {
	mac, err := macParam(r)
	if err != nil {
		return err
	}
	if err := m.Delete(r.Context(), mac); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (m *Machines) serveBootOnce(w http.ResponseWriter, r *http.Request) error {
	mac, err := macParam(r)
	if err != nil {
		return err
	}
	var req BootOnceRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Item == "" {
		return Errorf(http.StatusBadRequest, "item: say what the next boot boots, e.g. noimport, smartos-<build>, memtest")
	}
	v, err := m.Patch(r.Context(), mac, machines.Patch{BootOnce: machines.Value(req.Item)})
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, v)
}

func (m *Machines) serveClearBootOnce(w http.ResponseWriter, r *http.Request) error {
	mac, err := macParam(r)
	if err != nil {
		return err
	}
	mc, err := m.Registry.Update(r.Context(), mac, false, func(mc *machines.Machine) error {
		mc.BootOnce = ""
		return nil
	})
	if errors.Is(err, machines.ErrNotFound) {
		return Errorf(http.StatusNotFound, "no machine %s", mac)
	}
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, m.view(mc))
}

func (m *Machines) serveMachineEvents(w http.ResponseWriter, r *http.Request) error {
	mac, err := macParam(r)
	if err != nil {
		return err
	}
	evs := m.Events.Machine(mac)
	if evs == nil {
		evs = []events.Event{}
	}
	return WriteJSON(w, http.StatusOK, evs)
}

// serveBooted records that the machine's OS is up. A SmartOS rc script (or
// anything with curl) can call it; the event is the boot's last stage.
func (m *Machines) serveBooted(w http.ResponseWriter, r *http.Request) error {
	mac, err := macParam(r)
	if err != nil {
		return err
	}
	ip := ""
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		ip = ap.Addr().Unmap().String()
	}
	out := m.Events.Publish(events.Event{MAC: mac, Type: events.TypeUp, Via: "callback", IP: ip, Msg: "the OS called back: it is up"})
	if len(out) == 0 {
		return Errorf(http.StatusServiceUnavailable, "the server is stopping")
	}
	return WriteJSON(w, http.StatusOK, out[len(out)-1])
}
