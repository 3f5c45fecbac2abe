package publish

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBuildRefusesSwappedEntry replaces an entry between the walk's stat
// and its open, the window an attacker who can write the source tree races
// for. Each replacement keeps the size and mtime the stat saw, so only the
// inode tells it apart. The build must fail naming the entry, must not
// hang on a fifo, and must not have read the replacement's bytes.
func TestBuildRefusesSwappedEntry(t *testing.T) {
	secret := bytes.Repeat([]byte("SECRET! "), 64)
	tests := map[string]func(t *testing.T, full, outside string){
		"file swapped for a symlink": func(t *testing.T, full, outside string) {
			must(t, os.Remove(full))
			must(t, os.Symlink(filepath.Join(outside, "secret"), full))
		},
		"file replaced by another": func(t *testing.T, full, outside string) {
			must(t, os.Rename(filepath.Join(outside, "secret"), full))
		},
		"file swapped for a fifo": func(t *testing.T, full, outside string) {
			must(t, os.Remove(full))
			must(t, syscall.Mkfifo(full, 0o644))
		},
		"directory swapped for a symlink": func(t *testing.T, full, outside string) {
			must(t, os.RemoveAll(full))
			must(t, os.Symlink(outside, full))
		},
	}
	for name, swap := range tests {
		t.Run(name, func(t *testing.T) {
			src, outside := t.TempDir(), t.TempDir()
			writeFile(t, filepath.Join(src, "d", "f"), bytes.Repeat([]byte("public! "), 64))
			writeFile(t, filepath.Join(outside, "secret"), secret)
			victim := "d/f"
			if strings.HasPrefix(name, "directory") {
				victim = "d"
			}
			sameTimes(t, filepath.Join(src, victim), filepath.Join(outside, "secret"), outside)
			testHookBeforeOpen = func(rel string) {
				if rel == victim {
					swap(t, filepath.Join(src, victim), outside)
				}
			}
			defer func() { testHookBeforeOpen = nil }()
			sink := memSink{}
			err := buildOrHang(t, src, sink, filepath.Join(src, victim))
			if !errors.Is(err, errChanged) || !strings.Contains(err.Error(), victim) {
				t.Errorf("Build: %v; want an error naming %s and saying it changed", err, victim)
			}
			for _, b := range sink {
				if bytes.Contains(b, secret[:16]) {
					t.Error("a piece holds the replacement's bytes")
				}
			}
		})
	}
}

// sameTimes gives the replacements the victim's mtime, so that only its
// identity differs from what the stat saw.
func sameTimes(t *testing.T, victim string, others ...string) {
	t.Helper()
	fi, err := os.Lstat(victim)
	must(t, err)
	for _, o := range others {
		must(t, os.Chtimes(o, fi.ModTime(), fi.ModTime()))
	}
}

// buildOrHang runs Build, and if it blocks (opening a fifo that has no
// writer) unblocks it by opening the fifo for writing and fails the test.
func buildOrHang(t *testing.T, src string, sink Sink, fifo string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := Build(context.Background(), src, sink, Options{PieceSize: 4096})
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatal("Build hung opening the entry")
		return nil
	}
}
