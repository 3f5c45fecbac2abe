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

// evictSetup fills a store bounded to two pieces with a and b, so that
// putting a third evicts a.
func evictSetup(t *testing.T, dir string, hook func(string) error) (s *Store, a, b, c []byte) {
	t.Helper()
	a, b, c = content(11, 1000), content(12, 1000), content(13, 1000)
	s = openT(t, dir, Options{MaxBytes: 2000, faultHook: hook})
	putT(t, s, a)
	putT(t, s, b)
	return s, a, b, c
}

// TestFaultDuringEviction fails each eviction step of a commit that must
// make room. A failed record deletion fails the commit and keeps the
// victim; a failed file removal leaves a file without a record, which the
// next Open removes.
func TestFaultDuringEviction(t *testing.T) {
	for _, step := range []string{stepEvict, stepUnlink} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			armed := false
			s, a, b, c := evictSetup(t, dir, func(s string) error {
				if armed && s == step {
					return errInjected
				}
				return nil
			})
			armed = true
			err := s.Put(meta.Sum(c), c)
			if step == stepEvict {
				if !errors.Is(err, errInjected) {
					t.Fatalf("Put = %v, want an error wrapping the injected fault", err)
				}
				checkComplete(t, s, meta.Sum(a), a)
				if s.Has(meta.Sum(c)) {
					t.Error("piece committed although it could not make room")
				}
			} else {
				if err != nil {
					t.Fatalf("Put = %v, want nil (a failed removal is logged)", err)
				}
				if s.Has(meta.Sum(a)) || recorded(t, s, BucketPieces, meta.Sum(a)) {
					t.Error("evicted piece still complete")
				}
			}
			checkComplete(t, s, meta.Sum(b), b)
			checkBound(t, s, 2000+1000*boolInt(step == stepUnlink), "the faulty eviction")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openT(t, dir, Options{MaxBytes: 2000})
			checkConsistent(t, s)
			checkBound(t, s, 2000, "reopening")
		})
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// TestCrashDuringEviction copies the cache directory before each eviction
// step, as a crash there would leave it: the copy opens with every record
// matching its file, within the bound, and the victim complete only if its
// record was not deleted yet.
func TestCrashDuringEviction(t *testing.T) {
	for _, step := range []string{stepEvict, stepUnlink, stepRename} {
		t.Run("before "+step, func(t *testing.T) {
			dir, crashed := t.TempDir(), t.TempDir()
			armed, taken := false, false
			s, a, b, c := evictSetup(t, dir, func(s string) error {
				if armed && s == step && !taken {
					copyTree(t, dir, crashed)
					taken = true
				}
				return nil
			})
			armed = true
			putT(t, s, c)
			if !taken {
				t.Fatalf("step %q never ran", step)
			}
			cs := openT(t, crashed, Options{MaxBytes: 2000})
			checkConsistent(t, cs)
			checkBound(t, cs, 2000, "opening the crashed copy")
			checkComplete(t, cs, meta.Sum(b), b)
			if got, want := cs.Has(meta.Sum(a)), step == stepEvict; got != want {
				t.Errorf("victim complete after a crash before %s = %v, want %v", step, got, want)
			}
			if cs.Has(meta.Sum(c)) {
				t.Error("piece complete after a crash before its rename")
			}
		})
	}
}
