package bmc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"rackboot/internal/machines"
)

// Operator runs power operations on machines by MAC: it finds each
// machine's credentials (its own, over its rules' defaults), bounds how
// many BMC sessions run at once, tries again what may pass (no answer,
// before any command was sent), and reports every result.
type Operator struct {
	Registry *machines.Registry // labels, for the rules; and the firmware (EFI or not)
	Creds    *Store
	Rules    []Rule
	Options  DialOptions
	// Timeout bounds one machine's whole operation; 0 is 30 s.
	Timeout time.Duration
	// Attempts is how many sessions are tried before giving up on a BMC
	// that does not answer; 0 is 3.
	Attempts int
	// Parallel is how many BMC sessions run at once; 0 is 16.
	Parallel int
	// Dial opens a session; nil is the package's Dial.
	Dial func(ctx context.Context, c Credentials, o DialOptions) (Controller, error)
	// OnResult, if set, is told every result (metrics).
	OnResult func(Result)
	// OnPowerOn, if set, is told when a machine was powered on, cycled or
	// reset: its next boot begins (the boot timeline).
	OnPowerOn func(mac string, at time.Time, a Action, done string)
	Log       *slog.Logger

	once sync.Once
	sem  chan struct{}
}

// Result is one machine's power operation.
type Result struct {
	MAC    string `json:"mac"`
	Action Action `json:"action"`
	// Power is the state the BMC reported before acting (for status: now).
	Power Power `json:"power,omitempty"`
	// Done says what was done: "powered on", "power cycled", "already off".
	Done     string   `json:"done,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Error    string   `json:"error,omitempty"`
	Kind     Kind     `json:"error_kind,omitempty"`
	// BMC is where the operation went (never the password).
	BMC        string  `json:"bmc,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// OK reports whether the operation succeeded.
func (r Result) OK() bool { return r.Error == "" }

// Outcome is "ok" or the failure's Kind, as metrics count it.
func (r Result) Outcome() string {
	if r.OK() {
		return "ok"
	}
	return string(r.Kind)
}

// NetBoot asks for a network boot next (BootFromNetwork).
type NetBoot struct {
	// EFI sets the boot flags' UEFI bit (machines whose firmware is UEFI).
	EFI bool
	// RequireBootDevice makes a BMC's refusal of the boot device fatal; by
	// default it is a warning and the machine is powered on anyway
	// (DESIGN.md: "A refused boot device is a warning").
	RequireBootDevice bool
}

// Credentials returns the credentials that apply to the machine, and the
// names of the rules that gave defaults.
func (o *Operator) Credentials(ctx context.Context, mac string) (Credentials, []string, error) {
	own, _, err := o.Creds.Get(ctx, mac)
	if err != nil {
		return Credentials{}, nil, err
	}
	m, err := o.Registry.Get(ctx, mac)
	if err != nil && !errors.Is(err, machines.ErrNotFound) {
		return Credentials{}, nil, err
	}
	m.MAC = mac
	c, rules := Resolve(m, own, o.Rules)
	return c, rules, nil
}

// Power runs a on the machine's BMC.
func (o *Operator) Power(ctx context.Context, mac string, a Action) Result {
	return o.run(ctx, mac, a, func(ctx context.Context, c Controller, r *Result) (bool, error) {
		return o.power(ctx, c, r)
	})
}

// BootFromNetwork sets the next boot's device to PXE (a refusal is a
// warning unless nb.RequireBootDevice) and powers the machine on, or
// cycles it if it is on.
func (o *Operator) BootFromNetwork(ctx context.Context, mac string, nb NetBoot) Result {
	return o.run(ctx, mac, Cycle, func(ctx context.Context, c Controller, r *Result) (bool, error) {
		if err := c.SetBootDevice(ctx, BootDevice{PXE: true, EFI: nb.EFI}); err != nil {
			if nb.RequireBootDevice || KindOf(err) == KindAuth || KindOf(err) == KindNoAnswer {
				return false, err
			}
			r.Warnings = append(r.Warnings, "the BMC refused to set the boot device to PXE ("+err.Error()+
				"): powering on anyway, the firmware's own boot order decides (network first boots)")
		}
		return o.power(ctx, c, r)
	})
}

// power runs r.Action on an open session; sent says whether a command
// that changes anything went out (after which nothing is tried again).
func (o *Operator) power(ctx context.Context, c Controller, r *Result) (sent bool, err error) {
	st, err := c.PowerState(ctx)
	if err != nil {
		return false, err
	}
	r.Power = st
	do := r.Action
	switch {
	case r.Action == Status:
		r.Done = "is " + string(st)
		return false, nil
	case r.Action == On && st == PowerOn:
		r.Done = "already on"
		return false, nil
	case r.Action == Off && st == PowerOff:
		r.Done = "already off"
		return false, nil
	case r.Action == Cycle && st == PowerOff:
		do = On // IPMI v2.0 §28.3: a power cycle of a machine that is off does nothing
	case r.Action == Reset && st == PowerOff:
		return false, &Error{Kind: KindState, Op: "power reset", Err: errors.New("the machine is off: power it on instead")}
	}
	if err := c.Power(ctx, do); err != nil {
		return true, err
	}
	r.Done = map[Action]string{On: "powered on", Off: "powered off", Cycle: "power cycled", Reset: "reset"}[do]
	if do != Off && o.OnPowerOn != nil {
		o.OnPowerOn(r.MAC, time.Now(), do, r.Done)
	}
	return true, nil
}

// run opens a session (trying again while nothing answers), runs fn on
// it and closes it, within the operation's timeout and a place among the
// Parallel sessions.
func (o *Operator) run(ctx context.Context, mac string, a Action, fn func(context.Context, Controller, *Result) (bool, error)) (r Result) {
	start := time.Now()
	r = Result{MAC: mac, Action: a}
	defer func() {
		r.DurationMS = float64(time.Since(start).Microseconds()) / 1000
		if o.OnResult != nil {
			o.OnResult(r)
		}
	}()
	fail := func(err error) Result {
		r.Error, r.Kind = err.Error(), KindOf(err)
		var be *Error
		detail := ""
		if errors.As(err, &be) {
			detail = be.Detail
		}
		o.log().Warn("BMC operation failed", "mac", mac, "action", a, "bmc", r.BMC, "kind", r.Kind, "err", err, "detail", detail)
		return r
	}
	cr, _, err := o.Credentials(ctx, mac)
	if err != nil {
		return fail(err)
	}
	if cr.Address == "" {
		return fail(&Error{Kind: KindConfig, Err: fmt.Errorf("%s has no BMC address: set one with rackboot machines bmc set %s --address …", mac, mac)})
	}
	r.BMC = cr.Address
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := o.acquire(ctx); err != nil {
		return fail(&Error{Kind: KindNoAnswer, Op: "wait for a free BMC session", Err: err})
	}
	defer o.release()
	dial := o.Dial
	if dial == nil {
		dial = Dial
	}
	attempts := max(o.Attempts, 1)
	if o.Attempts == 0 {
		attempts = 3
	}
	for i := 1; ; i++ {
		sent, err := o.session(ctx, dial, cr, &r, fn)
		if err == nil {
			o.log().Info("BMC operation", "mac", mac, "action", a, "bmc", cr, "done", r.Done, "power_before", r.Power, "warnings", strings.Join(r.Warnings, "; "))
			return r
		}
		if sent || !Transient(err) || i >= attempts || ctx.Err() != nil {
			return fail(err)
		}
		o.log().Debug("BMC operation: trying again", "mac", mac, "action", a, "attempt", i, "err", err)
		select {
		case <-ctx.Done():
			return fail(err)
		case <-time.After(time.Duration(i) * 500 * time.Millisecond):
		}
	}
}

func (o *Operator) session(ctx context.Context, dial func(context.Context, Credentials, DialOptions) (Controller, error), cr Credentials, r *Result,
	fn func(context.Context, Controller, *Result) (bool, error)) (bool, error) {
	// What a session found is its own: a session tried again starts afresh
	// (else a refused boot device would be warned of once per session).
	r.Power, r.Done, r.Warnings = "", "", nil
	c, err := dial(ctx, cr, o.Options)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		c.Close(cctx)
	}()
	return fn(ctx, c, r)
}

func (o *Operator) acquire(ctx context.Context) error {
	o.once.Do(func() {
		n := o.Parallel
		if n <= 0 {
			n = 16
		}
		o.sem = make(chan struct{}, n)
	})
	select {
	case o.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (o *Operator) release() { <-o.sem }

func (o *Operator) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}
