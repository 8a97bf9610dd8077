package api

import (
	"errors"
	"net/http"
	"strings"

	"rackboot/internal/bmc"
	"rackboot/internal/machines"
)

// Power is the machines' BMCs as API resources: their credentials (never
// shown back: bmc.Info), power operations, and "boot this now".
type Power struct {
	Operator *bmc.Operator
	Machines *Machines
	server   *Server
}

// PowerRequest is the body of POST /machines/{mac}/power.
type PowerRequest struct {
	Action bmc.Action `json:"action"` // status, on, off, cycle, reset
}

// BootRequest is the body of POST /machines/{mac}/boot.
type BootRequest struct {
	Item string `json:"item"` // as BootOnceRequest's
	// Now sets the boot device to PXE and powers the machine on, or
	// cycles it; without it, only the boot-once is set.
	Now bool `json:"now,omitempty"`
	// RequireBootDevice fails the request when the BMC refuses the PXE
	// boot device (by default a warning: the machine is powered on anyway).
	RequireBootDevice bool `json:"require_boot_device,omitempty"`
}

// BootResponse answers POST /machines/{mac}/boot.
type BootResponse struct {
	Machine MachineView `json:"machine"`
	Power   *bmc.Result `json:"power,omitempty"`
	// After is the newest event's number before the power-on: follow
	// GET /events?follow=1&mac=…&after=… to see this boot.
	After uint64 `json:"after"`
}

// Register mounts the routes:
//
//	GET    /machines/{mac}/bmc     its BMC (bmc.Info; never the password; needs the token)
//	PATCH  /machines/{mac}/bmc     bmc.Patch: address, user, password, interface
//	DELETE /machines/{mac}/bmc     forget its own BMC settings
//	POST   /machines/{mac}/power   PowerRequest ─▶ bmc.Result
//	POST   /machines/{mac}/boot    BootRequest ─▶ BootResponse
func (p *Power) Register(s *Server) {
	p.server = s
	s.Handle("GET /machines/{mac}/bmc", p.serveGetBMC)
	s.Handle("PATCH /machines/{mac}/bmc", p.servePatchBMC)
	s.Handle("DELETE /machines/{mac}/bmc", p.serveDeleteBMC)
	s.Handle("POST /machines/{mac}/power", p.servePower)
	s.Handle("POST /machines/{mac}/boot", p.serveBoot)
}

// BMCView is what GET /machines/{mac}/bmc shows.
type BMCView struct {
	MAC string `json:"mac"`
	bmc.Info
	// Own are the machine's own settings, before its rules' defaults.
	Own bmc.Info `json:"own"`
}

func (p *Power) info(r *http.Request, mac string) (BMCView, error) {
	own, _, err := p.Operator.Creds.Get(r.Context(), mac)
	if err != nil {
		return BMCView{}, err
	}
	c, rules, err := p.Operator.Credentials(r.Context(), mac)
	if err != nil {
		return BMCView{}, err
	}
	v := BMCView{MAC: mac, Info: c.Info(), Own: own.Info()}
	v.Rules = rules
	return v, nil
}

func (p *Power) serveGetBMC(w http.ResponseWriter, r *http.Request) error {
	if err := p.server.authorize(r); err != nil {
		// Open reads show the boot network machines and boots; where
		// their BMCs are is for operators only.
		p.server.refused(r, refusedReason(r, err))
		w.Header().Set("WWW-Authenticate", `Bearer realm="rackboot"`)
		return Errorf(http.StatusUnauthorized, "a machine's BMC settings need the API token, open reads or not")
	}
	mac, err := macParam(r)
	if err != nil {
		return err
	}
	v, err := p.info(r, mac)
	if err != nil {
		return err
	}
	return WriteJSON(w, http.StatusOK, v)
}

func (p *Power) servePatchBMC(w http.ResponseWriter, r *http.Request) error {
	mac, err := macParam(r)
	if err != nil {
		return err
	}
	var patch bmc.Patch
	if err := DecodeJSON(r, &patch); err != nil {
		return err
	}
	if _, err := p.Operator.Creds.Update(r.Context(), mac, patch); err != nil {
		if bmc.KindOf(err) == bmc.KindConfig {
			return Errorf(http.StatusBadRequest, "%v", err)
		}
		return err
	}
	v, err := p.info(r, mac)
	if err != nil {
		return err
	}
	if p.server.Logger != nil {
		p.server.Logger.Info("BMC settings changed", "mac", mac, "bmc", v.Info, "client", r.RemoteAddr)
	}
	return WriteJSON(w, http.StatusOK, v)
}

func (p *Power) serveDeleteBMC(w http.ResponseWriter, r *http.Request) error {
	mac, err := macParam(r)
	if err != nil {
		return err
	}
	if err := p.Operator.Creds.Delete(r.Context(), mac); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (p *Power) servePower(w http.ResponseWriter, r *http.Request) error {
	mac, err := macParam(r)
	if err != nil {
		return err
	}
	var req PowerRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if _, err := bmc.ParseAction(string(req.Action)); err != nil {
		return Errorf(http.StatusBadRequest, "%v", err)
	}
	res := p.Operator.Power(r.Context(), mac, req.Action)
	return WriteJSON(w, resultStatus(res), res)
}

func (p *Power) serveBoot(w http.ResponseWriter, r *http.Request) error {
	mac, err := macParam(r)
	if err != nil {
		return err
	}
	var req BootRequest
	if err := DecodeJSON(r, &req); err != nil {
		return err
	}
	if req.Item == "" {
		return Errorf(http.StatusBadRequest, "item: say what the next boot boots, e.g. noimport, smartos-noimport, smartos-<build>, memtest")
	}
	if req.Now {
		// Refuse before the boot-once is set: a boot-once left behind by
		// a machine that cannot be powered would surprise its next boot.
		if c, _, err := p.Operator.Credentials(r.Context(), mac); err != nil {
			return err
		} else if c.Address == "" {
			return Errorf(http.StatusConflict, "%s has no BMC address: set one with rackboot machines bmc set %s --address …", mac, mac)
		}
	}
	v, err := p.Machines.Patch(r.Context(), mac, machines.Patch{BootOnce: machines.Value(req.Item)})
	if err != nil {
		return err
	}
	out := BootResponse{Machine: v}
	if recent := p.Machines.Events.Recent(1, 0); len(recent) > 0 {
		out.After = recent[0].Seq
	}
	if !req.Now {
		return WriteJSON(w, http.StatusOK, out)
	}
	efi := strings.HasPrefix(v.Arch, "efi")
	res := p.Operator.BootFromNetwork(r.Context(), mac, bmc.NetBoot{EFI: efi, RequireBootDevice: req.RequireBootDevice})
	out.Power = &res
	status := resultStatus(res)
	if status != http.StatusOK {
		// The body is the error (as every API error), with the result.
		return WriteJSON(w, status, struct {
			Error string `json:"error"`
			BootResponse
		}{res.Error + " (the boot-once stays set for its next boot)", out})
	}
	return WriteJSON(w, status, out)
}

// resultStatus is the HTTP status of a BMC result: 200, or what went wrong
// (the body says it in words, with the result).
func resultStatus(r bmc.Result) int {
	switch r.Kind {
	case "":
		return http.StatusOK
	case bmc.KindConfig, bmc.KindState:
		return http.StatusConflict
	case bmc.KindNoAnswer:
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// errNoResult is returned by the client when an answer holds no result.
var errNoResult = errors.New("the server's answer holds no power result")
