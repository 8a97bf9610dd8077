package boltstore

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"rackboot/internal/store"
	"rackboot/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	base := t.TempDir()
	var mu sync.Mutex
	dirs := map[*testing.T]string{}
	storetest.Run(t, func(t *testing.T) store.Store {
		mu.Lock()
		dir, ok := dirs[t]
		if !ok {
			dir = filepath.Join(base, strconv.Itoa(len(dirs)))
			dirs[t] = dir
		}
		mu.Unlock()
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestOpenLockedByAnother(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = Open(dir, Options{Timeout: 200 * time.Millisecond})
	if err == nil {
		t.Fatal("second Open of a held data dir succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "in use by another rackboot") || !strings.Contains(msg, "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("error %q should say the data dir is in use and by which pid", msg)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("second Open waited %v, want about the 200ms timeout", d)
	}
	// After the holder closes, the data dir is free again.
	s.Close()
	s2, err := Open(dir, Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	s2.Close()
	if _, err := os.Stat(filepath.Join(dir, PidFileName)); !os.IsNotExist(err) {
		t.Fatalf("pid file left after Close: %v", err)
	}
}

func TestFileLocation(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "new"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if want := filepath.Join(dir, "new", "rackboot.db"); s.Path() != want {
		t.Fatalf("Path = %q, want %q", s.Path(), want)
	}
	if _, err := s.Put(context.Background(), "a", []byte("b")); err != nil {
		t.Fatal(err)
	}
	if s.db.NoSync {
		t.Fatal("NoSync is set: commits would not be fsynced")
	}
}
