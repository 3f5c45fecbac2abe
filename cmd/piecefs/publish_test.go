package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPublishRefusesOutputInsideSource: an output inside the source would
// be published into itself, and every publish would grow it. It must be
// refused before anything is written.
func TestPublishRefusesOutputInsideSource(t *testing.T) {
	tests := map[string]func(src, tmp string) string{
		"same directory":        func(src, tmp string) string { return src },
		"subdirectory":          func(src, tmp string) string { return filepath.Join(src, "out") },
		"new nested directory":  func(src, tmp string) string { return filepath.Join(src, "a", "b", "out") },
		"through a symlink":     func(src, tmp string) string { return filepath.Join(tmp, "link", "out") },
		"with dot-dot":          func(src, tmp string) string { return filepath.Join(tmp, "other") + "/../src/out" },
		"existing subdirectory": func(src, tmp string) string { return filepath.Join(src, "sub") },
	}
	for name, outOf := range tests {
		t.Run(name, func(t *testing.T) {
			tmp := t.TempDir()
			src := filepath.Join(tmp, "src")
			writeTestFile(t, filepath.Join(src, "sub", "f"), "content")
			if err := os.Symlink(src, filepath.Join(tmp, "link")); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(tmp, "other"), 0o755); err != nil {
				t.Fatal(err)
			}
			out := outOf(src, tmp)
			_, err := publish(context.Background(), src, out, 4096, "latest", nil)
			if err == nil || !strings.Contains(err.Error(), "inside the source") {
				t.Fatalf("publish %s into %s: %v; want a refusal", src, out, err)
			}
			for _, p := range []string{"pieces", "sub/pieces", "out", "a"} {
				if _, err := os.Lstat(filepath.Join(src, p)); err == nil {
					t.Errorf("%s was written before the refusal", p)
				}
			}
		})
	}
}

// TestPublishBesideSource checks the refusal does not catch a sibling
// whose name merely starts with the source's.
func TestPublishBesideSource(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	writeTestFile(t, filepath.Join(src, "f"), "content")
	if _, err := publish(context.Background(), src, src+"-out", 4096, "latest", nil); err != nil {
		t.Fatalf("publish into a sibling: %v", err)
	}
}

// TestPublishRepairsDamagedPiece damages a published piece in place,
// keeping its size, and publishes again: the piece must be whole again.
func TestPublishRepairsDamagedPiece(t *testing.T) {
	tmp := t.TempDir()
	src, out := filepath.Join(tmp, "src"), filepath.Join(tmp, "out")
	writeTestFile(t, filepath.Join(src, "f"), strings.Repeat("piecefs ", 1000))
	if _, err := publish(context.Background(), src, out, 4096, "latest", nil); err != nil {
		t.Fatal(err)
	}
	pieces, err := filepath.Glob(filepath.Join(out, "pieces", "*", "*"))
	if err != nil || len(pieces) == 0 {
		t.Fatalf("no pieces published (%v)", err)
	}
	want, err := os.ReadFile(pieces[0])
	if err != nil {
		t.Fatal(err)
	}
	damaged := bytes.Clone(want)
	damaged[len(damaged)/2] ^= 0xff
	if err := os.WriteFile(pieces[0], damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := publish(context.Background(), src, out, 4096, "latest", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(pieces[0]); err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s after a second publish: %v, content whole %v", pieces[0], err, bytes.Equal(got, want))
	}
}

func writeTestFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
