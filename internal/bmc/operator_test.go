package bmc

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// scriptedBMC is a Controller whose sessions answer from a script: each
// Dial takes the next session's answers.
type scriptedBMC struct {
	mu       sync.Mutex
	sessions []scriptedSession
	dials    int
	powers   []Action // every Power command sent, across sessions
}

type scriptedSession struct {
	bootDevice error
	state      Power
	stateErr   error
	powerErr   error
}

type scriptedController struct {
	b *scriptedBMC
	s scriptedSession
}

func (b *scriptedBMC) dial(context.Context, Credentials, DialOptions) (Controller, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sessions[min(b.dials, len(b.sessions)-1)]
	b.dials++
	return &scriptedController{b: b, s: s}, nil
}

func (c *scriptedController) PowerState(context.Context) (Power, error) {
	return c.s.state, c.s.stateErr
}

func (c *scriptedController) Power(_ context.Context, a Action) error {
	c.b.mu.Lock()
	c.b.powers = append(c.b.powers, a)
	c.b.mu.Unlock()
	return c.s.powerErr
}

func (c *scriptedController) SetBootDevice(context.Context, BootDevice) error { return c.s.bootDevice }
func (c *scriptedController) Close(context.Context) error                     { return nil }

// TestRetries: a session that fails before any power command is tried
// again, and its result is the last session's alone (one warning for one
// refused boot device, not one per session); a power command that got no
// answer is never sent again (it may have been carried out).
func TestRetries(t *testing.T) {
	const mac = "52:54:00:00:00:07"
	refused := &Error{Kind: KindUnsupported, Op: "set boot device", Err: errors.New("invalid data field (0xcc)")}
	noAnswer := &Error{Kind: KindNoAnswer, Op: "get chassis status", Err: errors.New("no answer")}

	b := &scriptedBMC{sessions: []scriptedSession{
		{bootDevice: refused, stateErr: noAnswer},
		{bootDevice: refused, state: PowerOff},
	}}
	o := newOperator(t, map[string]Credentials{mac: {Address: "127.0.0.1", User: "admin", Password: secret}})
	o.Dial = b.dial
	r := o.BootFromNetwork(context.Background(), mac, NetBoot{})
	if !r.OK() || r.Done != "powered on" || b.dials != 2 {
		t.Fatalf("boot from network after one silent session: %+v (%d sessions)", r, b.dials)
	}
	if len(r.Warnings) != 1 {
		t.Errorf("warnings %q: want the refused boot device once", r.Warnings)
	}

	b = &scriptedBMC{sessions: []scriptedSession{{state: PowerOn, powerErr: &Error{Kind: KindNoAnswer, Op: "power cycle", Err: errors.New("no answer")}}}}
	o.Dial = b.dial
	r = o.Power(context.Background(), mac, Cycle)
	if r.Kind != KindNoAnswer || len(b.powers) != 1 || b.dials != 1 {
		t.Errorf("a power cycle with no answer: %+v, sent %v in %d sessions: want sent once", r, b.powers, b.dials)
	}
}
