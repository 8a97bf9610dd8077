package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"rackboot/internal/store"
)

// tx adapts a bbolt transaction to store.Tx.
type tx struct {
	btx      *bbolt.Tx
	writable bool
	rev      int64 // the revision this transaction's writes get
	events   []store.Event
}

var errReadOnly = errors.New("write in a read-only transaction")

func (t *tx) Get(key string) (store.KV, error) {
	if err := store.ValidKey(key); err != nil {
		return store.KV{}, fmt.Errorf("get: %w", err)
	}
	raw := t.btx.Bucket(bucketKV).Get([]byte(key))
	if raw == nil {
		return store.KV{}, fmt.Errorf("get %q: %w", key, store.ErrNotFound)
	}
	return decode(key, raw)
}

func (t *tx) List(prefix string) ([]store.KV, error) {
	var out []store.KV
	c := t.btx.Bucket(bucketKV).Cursor()
	p := []byte(prefix)
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		kv, err := decode(string(k), v)
		if err != nil {
			return nil, err
		}
		out = append(out, kv)
	}
	return out, nil
}

func (t *tx) Put(key string, value []byte) error {
	if !t.writable {
		return errReadOnly
	}
	if err := store.ValidKey(key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	raw := make([]byte, 8, 8+len(value))
	binary.BigEndian.PutUint64(raw, uint64(t.rev))
	raw = append(raw, value...)
	if err := t.btx.Bucket(bucketKV).Put([]byte(key), raw); err != nil {
		return fmt.Errorf("put %q: %w", key, err)
	}
	t.events = append(t.events, store.Event{Type: store.EventPut,
		KV: store.KV{Key: key, Value: bytes.Clone(value), Revision: t.rev}})
	return nil
}

func (t *tx) Delete(key string) error {
	if !t.writable {
		return errReadOnly
	}
	if err := store.ValidKey(key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	b := t.btx.Bucket(bucketKV)
	if b.Get([]byte(key)) == nil {
		return nil
	}
	if err := b.Delete([]byte(key)); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	t.events = append(t.events, store.Event{Type: store.EventDelete,
		KV: store.KV{Key: key, Revision: t.rev}})
	return nil
}

// decode copies a stored record out of bbolt's memory map.
func decode(key string, raw []byte) (store.KV, error) {
	if len(raw) < 8 {
		return store.KV{}, fmt.Errorf("key %q: corrupt record of %d bytes", key, len(raw))
	}
	v := make([]byte, len(raw)-8)
	copy(v, raw[8:])
	return store.KV{Key: key, Value: v, Revision: int64(binary.BigEndian.Uint64(raw))}, nil
}
