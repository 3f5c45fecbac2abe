package store

import (
	"errors"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

var steps = []string{stepWrite, stepFsync, stepRename, stepDirsync, stepCommit}

// TestFaultAtEachStep fails each durability step in turn: the piece must be
// absent, both in the running store and after reopening.
func TestFaultAtEachStep(t *testing.T) {
	data := content(1, 4096)
	d := meta.Sum(data)
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			hook := func(s string) error {
				if s == step {
					return errInjected
				}
				return nil
			}
			s := openT(t, dir, Options{faultHook: hook})
			if err := s.Put(d, data); !errors.Is(err, errInjected) {
				t.Fatalf("Put = %v, want an error wrapping the injected fault", err)
			}
			checkAbsent(t, s, d)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			checkAbsent(t, openT(t, dir, Options{}), d)
		})
	}
}

// TestCrashAtEachStep takes a copy of the cache directory just before each
// durability step, as a crash there would leave it, and checks that opening
// the copy finds the piece absent; a copy taken after Commit returns must
// find it complete.
func TestCrashAtEachStep(t *testing.T) {
	data := content(2, 4096)
	d := meta.Sum(data)
	for _, step := range append(steps, "done") {
		t.Run("before "+step, func(t *testing.T) {
			dir, crashed := t.TempDir(), t.TempDir()
			taken := false
			hook := func(s string) error {
				if s == step && !taken {
					copyTree(t, dir, crashed)
					taken = true
				}
				return nil
			}
			s := openT(t, dir, Options{faultHook: hook})
			if err := s.Put(d, data); err != nil {
				t.Fatalf("Put: %v", err)
			}
			checkComplete(t, s, d, data)
			if step == "done" {
				copyTree(t, dir, crashed)
				checkComplete(t, openT(t, crashed, Options{}), d, data)
				return
			}
			if !taken {
				t.Fatalf("step %q never ran", step)
			}
			checkAbsent(t, openT(t, crashed, Options{}), d)
		})
	}
}
