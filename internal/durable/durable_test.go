package durable

import (
	"os"
	"path/filepath"
	"testing"
)

func TestTree(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "b", "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nonexistent", filepath.Join(dir, "a", "dangling")); err != nil {
		t.Fatal(err)
	}
	for _, files := range []bool{false, true} {
		if err := Tree(dir, files); err != nil {
			t.Errorf("Tree(files %v): %v (a dangling link must be skipped)", files, err)
		}
	}
	if err := Tree(filepath.Join(dir, "missing"), true); err == nil {
		t.Error("Tree of a missing directory: no error")
	}
	if err := Sync(filepath.Join(dir, "a", "b", "f")); err != nil {
		t.Error(err)
	}
}
