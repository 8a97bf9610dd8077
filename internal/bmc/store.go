package bmc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"rackboot/internal/machines"
	"rackboot/internal/store"
)

// KeyPrefix is the store namespace of BMC credentials, one key per
// machine ("bmc/<mac>"), apart from "machines/<mac>": the machine record is
// what the API shows, and a password in it would be one forgotten field
// away from an answer.
const KeyPrefix = "bmc/"

// Key is the store key of the machine's BMC credentials.
func Key(mac string) string { return KeyPrefix + mac }

// Store keeps each machine's own BMC credentials.
type Store struct {
	Store store.Store
}

// Get returns the machine's own credentials; ok is false when it has none.
func (s *Store) Get(ctx context.Context, mac string) (c Credentials, ok bool, err error) {
	kv, err := s.Store.Get(ctx, Key(mac))
	if errors.Is(err, store.ErrNotFound) {
		return Credentials{}, false, nil
	}
	if err != nil {
		return Credentials{}, false, err
	}
	if err := json.Unmarshal(kv.Value, &c); err != nil {
		return Credentials{}, false, fmt.Errorf("BMC record of %s: %w", mac, err)
	}
	return c, true, nil
}

// Patch changes a machine's own credentials: a nil field is left as it is,
// an empty one clears it (and the rules' default applies again).
type Patch struct {
	Address   *string    `json:"address,omitempty"`
	User      *string    `json:"user,omitempty"`
	Password  *string    `json:"password,omitempty"`
	Interface *Interface `json:"interface,omitempty"`
}

// Apply changes c as p says.
func (p Patch) Apply(c *Credentials) {
	if p.Address != nil {
		c.Address = *p.Address
	}
	if p.User != nil {
		c.User = *p.User
	}
	if p.Password != nil {
		c.Password = *p.Password
	}
	if p.Interface != nil {
		c.Interface = *p.Interface
	}
}

// Update applies p to the machine's credentials in one transaction.
func (s *Store) Update(ctx context.Context, mac string, p Patch) (Credentials, error) {
	var out Credentials
	err := s.Store.Txn(ctx, func(tx store.Tx) error {
		var c Credentials
		kv, err := tx.Get(Key(mac))
		switch {
		case err == nil:
			if err := json.Unmarshal(kv.Value, &c); err != nil {
				return fmt.Errorf("BMC record of %s: %w", mac, err)
			}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		p.Apply(&c)
		if err := c.Validate(); err != nil {
			return &Error{Kind: KindConfig, Err: err}
		}
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		out = c
		return tx.Put(Key(mac), b)
	})
	return out, err
}

// Delete forgets the machine's own credentials (none is not an error).
func (s *Store) Delete(ctx context.Context, mac string) error {
	err := s.Store.Delete(ctx, Key(mac))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// Rule gives the machines a machines.rules entry matches BMC defaults
// (a user, a password, an interface: racks of one vendor share them);
// the address is each machine's own.
type Rule struct {
	Name      string
	MACPrefix string
	Labels    map[string]string
	Defaults  Credentials
}

// Resolve is the credentials that apply to m: every matching rule's
// defaults in order, then m's own (own), a later non-empty field winning.
func Resolve(m machines.Machine, own Credentials, rules []Rule) (Credentials, []string) {
	var (
		c     Credentials
		names []string
	)
	for _, r := range rules {
		if !(machines.Rule{Name: r.Name, MACPrefix: r.MACPrefix, Labels: r.Labels}).Matches(m) {
			continue
		}
		names = append(names, r.Name)
		c = overlay(c, r.Defaults)
	}
	return overlay(c, own), names
}

func overlay(base, over Credentials) Credentials {
	if over.Address != "" {
		base.Address = over.Address
	}
	if over.User != "" {
		base.User = over.User
	}
	if over.Password != "" {
		base.Password = over.Password
	}
	if over.Interface != "" {
		base.Interface = over.Interface
	}
	return base
}
