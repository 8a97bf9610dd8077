package machines

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"rackboot/internal/store"
)

// Registry reads and writes machines in a store. Safe for concurrent use;
// every read-modify-write is one store transaction.
type Registry struct {
	Store store.Store
	Now   func() time.Time // nil: time.Now
}

func (r *Registry) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Get returns the machine with this MAC, or an error wrapping ErrNotFound.
func (r *Registry) Get(ctx context.Context, mac string) (Machine, error) {
	kv, err := r.Store.Get(ctx, Key(mac))
	if errors.Is(err, store.ErrNotFound) {
		return Machine{}, fmt.Errorf("%s: %w", mac, ErrNotFound)
	}
	if err != nil {
		return Machine{}, err
	}
	return decode(kv.Value)
}

// List returns every machine, by MAC.
func (r *Registry) List(ctx context.Context) ([]Machine, error) {
	kvs, err := r.Store.List(ctx, KeyPrefix)
	if err != nil {
		return nil, err
	}
	out := make([]Machine, 0, len(kvs))
	for _, kv := range kvs {
		m, err := decode(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// Update applies fn to the machine with this MAC in one transaction and
// stores the result if fn returns nil. A machine not yet registered starts
// empty when create is true (an operator may set a machine up before its
// first boot), and is ErrNotFound otherwise.
func (r *Registry) Update(ctx context.Context, mac string, create bool, fn func(m *Machine) error) (Machine, error) {
	var out Machine
	err := r.Store.Txn(ctx, func(tx store.Tx) error {
		m, err := txGet(tx, mac)
		switch {
		case errors.Is(err, ErrNotFound) && create:
			m = Machine{MAC: mac}
		case err != nil:
			return err
		}
		if err := fn(&m); err != nil {
			return err
		}
		if err := m.Validate(); err != nil {
			return err
		}
		out = m
		return txPut(tx, m)
	})
	return out, err
}

// Delete removes the machine. Deleting an unknown MAC is ErrNotFound.
func (r *Registry) Delete(ctx context.Context, mac string) error {
	return r.Store.Txn(ctx, func(tx store.Tx) error {
		if _, err := txGet(tx, mac); err != nil {
			return err
		}
		return tx.Delete(Key(mac))
	})
}

// ClearBootOnce consumes the machine's boot-once setting if it is still
// item, and reports whether it did. Two menus served at once for the same
// machine cannot both consume it: the second finds it gone (or changed)
// and must be built again without it.
func (r *Registry) ClearBootOnce(ctx context.Context, mac, item string) (bool, error) {
	cleared := false
	err := r.Store.Txn(ctx, func(tx store.Tx) error {
		cleared = false
		m, err := txGet(tx, mac)
		if err != nil {
			return err
		}
		if m.BootOnce != item {
			return nil
		}
		m.BootOnce = ""
		cleared = true
		return txPut(tx, m)
	})
	return cleared, err
}

func txGet(tx store.Tx, mac string) (Machine, error) {
	kv, err := tx.Get(Key(mac))
	if errors.Is(err, store.ErrNotFound) {
		return Machine{}, fmt.Errorf("%s: %w", mac, ErrNotFound)
	}
	if err != nil {
		return Machine{}, err
	}
	return decode(kv.Value)
}

func txPut(tx store.Tx, m Machine) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return tx.Put(Key(m.MAC), b)
}
