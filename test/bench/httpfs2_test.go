package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestMakePeerFile: a big file httpfs2 can mount is linked, not copied.
func TestMakePeerFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := makePeerFile(src, filepath.Join(dir, "peer"))
	if err != nil || n != 10 {
		t.Fatalf("makePeerFile = %d, %v; want 10", n, err)
	}
	a, errA := os.Stat(src)
	b, errB := os.Stat(filepath.Join(dir, "peer", bigName))
	if errA != nil || errB != nil || !os.SameFile(a, b) {
		t.Errorf("the peer file is not a link to the source (%v, %v)", errA, errB)
	}
}

func TestCopyPrefix(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := copyPrefix(src, dst, 4); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, []byte("0123")) {
		t.Errorf("copyPrefix of 4 bytes wrote %q, %v; want %q", got, err, "0123")
	}
	if err := copyPrefix(src, filepath.Join(dir, "long"), 11); err == nil {
		t.Error("copyPrefix past the end succeeded, want an error")
	}
}
