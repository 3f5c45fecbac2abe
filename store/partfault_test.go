package store

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/piecefs/piecefs/meta"
)

// partScenario is a piece written through Parts, one after another, each
// writing the blocks of one set and committing them.
type partScenario struct {
	name    string
	table   bool     // the piece has a block table (so its completion is hashed)
	noLinks bool     // the file system makes no hard links (link fails with ENOTSUP)
	parts   [][]int  // blocks of each Part; together, every block of a 4-block piece
	want    []string // the durability steps they take, in order
}

// The steps of a Part: write each block, sync the file, then either record
// (syncing the directory first for the file's first record), or complete.
// A completion with a partial record links the file to the piece's name,
// syncs the directory, records, and unlinks the partial name; one without
// (or where the file system makes no hard links) renames the file instead
// and has no partial name left to unlink.
var (
	partFirst          = []string{stepFsync, stepDirsync, stepCommit}
	partNext           = []string{stepFsync, stepCommit}
	partComplete       = []string{stepFsync, stepRename, stepDirsync, stepCommit}
	partLinkComplete   = []string{stepFsync, stepLink, stepDirsync, stepCommit, stepUnlinkBlocks}
	partNoLinkComplete = []string{stepFsync, stepLink, stepRename, stepDirsync, stepCommit}
	writes4            = []string{stepWrite, stepWrite, stepWrite, stepWrite}
)

var partScenarios = []partScenario{
	// The first Part records a partial piece, the second adds to the
	// record, the third completes it.
	{name: "assembled", parts: [][]int{{0, 2}, {1}, {3}}, want: slices.Concat(
		[]string{stepWrite, stepWrite}, partFirst, []string{stepWrite}, partNext, []string{stepWrite}, partLinkComplete)},
	{name: "assembled with a block table", table: true, parts: [][]int{{3}, {0, 1, 2}}, want: slices.Concat(
		[]string{stepWrite}, partFirst, []string{stepWrite, stepWrite, stepWrite}, partLinkComplete)},
	{name: "assembled without hard links", noLinks: true, parts: [][]int{{0, 2}, {1, 3}}, want: slices.Concat(
		[]string{stepWrite, stepWrite}, partFirst, []string{stepWrite, stepWrite}, partNoLinkComplete)},
	// One Part writes the whole piece: no partial record.
	{name: "alone", parts: [][]int{{0, 1, 2, 3}}, want: slices.Concat(writes4, partComplete)},
	{name: "alone with a block table", table: true, parts: [][]int{{0, 1, 2, 3}}, want: slices.Concat(writes4, partComplete)},
}

// hook returns the fault hook of a store running sc: h, and then, on a
// file system without hard links, link's failure.
func (sc partScenario) hook(h func(string) error) func(string) error {
	return func(step string) error {
		if err := h(step); err != nil {
			return err
		}
		if sc.noLinks && step == stepLink {
			return syscall.ENOTSUP
		}
		return nil
	}
}

// stepAt is one call of the fault hook: the step, and the Part running.
type stepAt struct {
	step string
	part int
}

// run writes sc's piece through Parts, telling the hook which Part runs
// (cur), and returns whether each Part's Commit succeeded. A Part whose
// WriteAt fails is aborted.
func (sc partScenario) run(t *testing.T, s *Store, p meta.Piece, data []byte, cur *int) []bool {
	t.Helper()
	ok := make([]bool, len(sc.parts))
	for i, ks := range sc.parts {
		*cur = i
		w := createPartT(t, s, p)
		failed := false
		for _, k := range ks {
			off, b := block(data, k)
			if _, err := w.WriteAt(b, off); err != nil {
				failed = true
				break
			}
		}
		if failed {
			must(t, w.Abort())
			continue
		}
		ok[i] = w.Commit() == nil
	}
	return ok
}

func (sc partScenario) piece() (meta.Piece, []byte) {
	data, p := partData(50, 4)
	if sc.table {
		p = withTable(p, data)
	}
	return p, data
}

// steps runs sc once and returns the durability steps it takes, in order.
func (sc partScenario) steps(t *testing.T) []stepAt {
	t.Helper()
	var got []stepAt
	cur := 0
	s := openT(t, t.TempDir(), Options{faultHook: sc.hook(func(step string) error {
		got = append(got, stepAt{step, cur})
		return nil
	})})
	p, data := sc.piece()
	sc.run(t, s, p, data, &cur)
	checkComplete(t, s, p.Digest, data)
	var names []string
	for _, st := range got {
		names = append(names, st.step)
	}
	if !equalStrings(names, sc.want) {
		t.Fatalf("%s: steps = %v, want %v", sc.name, names, sc.want)
	}
	return got
}

// recordedBefore returns the blocks that a crash just before step i leaves
// recorded: those of the Parts whose commit step came before it. A crash
// between the step that gives a completion's file the piece's name (link
// or rename) and its transaction leaves that file beside the partial
// record, if there is one, and Open completes the piece: every block is
// recorded then. Without a partial record (one Part wrote the whole piece)
// nothing was recorded, and none is.
func (sc partScenario) recordedBefore(steps []stepAt, i int) []int {
	var ks []int
	for j, st := range steps[:i] {
		if st.step == stepCommit {
			ks = append(ks, sc.parts[st.part]...)
		}
		named := st.step == stepRename || st.step == stepLink && !sc.noLinks
		if named && !slices.ContainsFunc(steps[j:i], func(s stepAt) bool { return s.step == stepCommit }) {
			if len(ks) == 0 {
				return nil
			}
			return []int{0, 1, 2, 3}
		}
	}
	slices.Sort(ks)
	return ks
}

// TestPartCrashAtEachStep copies the cache directory just before each
// durability step of sc, as a crash there would leave it, and with every
// block not recorded at that moment overwritten (a crash may lose bytes
// not yet synced). Opening the copy must serve exactly the blocks recorded
// before the step, with the right bytes, complete only when all are.
func TestPartCrashAtEachStep(t *testing.T) {
	for _, sc := range partScenarios {
		steps := sc.steps(t)
		for i := range len(steps) + 1 {
			name := sc.name + "/done"
			if i < len(steps) {
				name = fmt.Sprintf("%s/before %d %s of part %d", sc.name, i, steps[i].step, steps[i].part)
			}
			t.Run(name, func(t *testing.T) {
				dir, crashed := t.TempDir(), t.TempDir()
				calls := 0
				s := openT(t, dir, Options{faultHook: sc.hook(func(string) error {
					if calls == i {
						copyTree(t, dir, crashed)
					}
					calls++
					return nil
				})})
				p, data := sc.piece()
				cur := 0
				sc.run(t, s, p, data, &cur)
				if i == len(steps) {
					copyTree(t, dir, crashed)
				}
				want := sc.recordedBefore(steps, i)
				garbleExcept(t, crashed, p, want)
				cs := openT(t, crashed, Options{})
				if len(want) == 4 {
					checkComplete(t, cs, p.Digest, data)
				} else {
					checkServed(t, cs, p, data, want...)
				}
				checkConsistent(t, cs)
			})
		}
	}
}

// garbleExcept overwrites every block of p's partial file in the cache
// directory dir but those in keep.
func garbleExcept(t *testing.T, dir string, p meta.Piece, keep []int) {
	t.Helper()
	name := pathIn(dir, p.Digest) + blocksSuffix
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if os.IsNotExist(err) {
		return
	}
	must(t, err)
	defer f.Close()
	for k := range meta.NumBlocks(p.Size, bs) {
		if !slices.Contains(keep, k) {
			_, b := block(make([]byte, p.Size), k)
			for j := range b {
				b[j] = 0xEE
			}
			_, err := f.WriteAt(b, int64(k*bs))
			must(t, err)
		}
	}
}

func pathIn(dir string, d meta.Digest) string {
	return dir + "/" + meta.PiecePath(d)
}

// TestPartFaultAtEachStep fails each durability step of sc in turn. The
// store must serve only blocks of Parts whose Commit succeeded, all of
// them unless a failed completion that had renamed the file dropped the
// partial piece, and the same after reopening. A failure to unlink the
// partial name of a piece made complete is only logged: the piece is
// complete, and the next Open removes the partial file.
func TestPartFaultAtEachStep(t *testing.T) {
	for _, sc := range partScenarios {
		steps := sc.steps(t)
		for i, st := range steps {
			t.Run(fmt.Sprintf("%s/%d %s of part %d", sc.name, i, st.step, st.part), func(t *testing.T) {
				dir := t.TempDir()
				calls := 0
				s := openT(t, dir, Options{faultHook: sc.hook(func(string) error {
					calls++
					if calls-1 == i {
						return errInjected
					}
					return nil
				})})
				p, data := sc.piece()
				cur := 0
				ok := sc.run(t, s, p, data, &cur)
				if st.step == stepUnlinkBlocks {
					if !ok[st.part] {
						t.Fatalf("part %d failed: a failed unlink of the partial name must only be logged", st.part)
					}
					checkComplete(t, s, p.Digest, data)
					must(t, s.Close())
					s = openT(t, dir, Options{})
					checkComplete(t, s, p.Digest, data)
					checkNoPartial(t, s, p.Digest)
					checkConsistent(t, s)
					return
				}
				if ok[st.part] {
					t.Fatalf("part %d committed although its %s failed", st.part, st.step)
				}
				var committed []int
				for j, ks := range sc.parts {
					if ok[j] {
						committed = append(committed, ks...)
					}
				}
				slices.Sort(committed)
				served := servedBlocks(t, s, p, data)
				if !subset(served, committed) {
					t.Errorf("served %v, but only %v were committed", served, committed)
				}
				// A completion that fails after renaming the file
				// drops the partial piece; any other failure, one
				// after a link included, leaves the rest.
				renamed := slices.ContainsFunc(steps[:i], func(s stepAt) bool { return s.step == stepRename })
				dropped := sc.completes(st.part) && renamed && (st.step == stepDirsync || st.step == stepCommit)
				if !dropped && !equalInts(served, committed) {
					t.Errorf("served %v, want the %v committed", served, committed)
				}
				if s.Has(p.Digest) {
					t.Error("piece complete although a step failed")
				}
				checkConsistent(t, s)
				must(t, s.Close())
				s = openT(t, dir, Options{})
				checkServed(t, s, p, data, served...)
				checkConsistent(t, s)
			})
		}
	}
}

// completes reports whether Part i of sc is the one that completes the
// piece.
func (sc partScenario) completes(i int) bool { return i == len(sc.parts)-1 }

func subset(a, b []int) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// TestPartCrashMidCompletion copies the cache directory between the step
// that gives a completion's file the piece's name and the completion's
// transaction (before the directory sync that follows, and before the
// transaction), as a kill or a power loss there leaves it: a partial record
// of blocks 0 and 2 beside the piece file <hex>, which no record names,
// and beside the partial file too if the completion linked it (without
// hard links, it renamed it). Reopened, the copy has the piece complete
// (Has, Load and ReadAt serve it, with its checksums recorded, under the
// disk bound's count) and the reconcile logs the completion it finished.
// With a byte of <hex> flipped in the copy, the piece is not complete and
// no wrong byte is served: the partial piece keeps its recorded blocks if
// its partial file is there, and a warning names the piece.
func TestPartCrashMidCompletion(t *testing.T) {
	for _, links := range []bool{true, false} {
		for _, table := range []bool{false, true} {
			for _, before := range []string{stepDirsync, stepCommit} {
				for _, flip := range []bool{false, true} {
					name := fmt.Sprintf("links %v/table %v/before %s/flipped %v", links, table, before, flip)
					t.Run(name, func(t *testing.T) {
						testPartCrashMidCompletion(t, links, table, before, flip)
					})
				}
			}
		}
	}
}

func testPartCrashMidCompletion(t *testing.T, links, table bool, before string, flip bool) {
	crashed, p, data := crashMidCompletion(t, links, table, before)
	if flip {
		flipByte(t, pathIn(crashed, p.Digest), bs+77) // in block 1, which the partial record lacks
	}

	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	cs := openT(t, crashed, Options{Log: log, MaxBytes: 10 * p.Size})
	checkConsistent(t, cs)
	// At Info if the reconcile repaired something, else at Debug.
	es := append(logged(hook, logrus.InfoLevel, "kind", BucketPartial), logged(hook, logrus.DebugLevel, "kind", BucketPartial)...)
	if !flip {
		checkComplete(t, cs, p.Digest, data)
		checkNoPartial(t, cs, p.Digest)
		got, err := cs.Load(p)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("Load = %d bytes, %v; want the piece", len(got), err)
		}
		if got := cs.Bytes(); got != p.Size {
			t.Errorf("Bytes = %d, want the piece's %d", got, p.Size)
		}
		if len(es) != 1 || es[0].Data["completions_finished"] != 1 {
			t.Errorf("reconcile log of partial pieces = %v, want 1 completion finished", entryData(es))
		}
		return
	}
	kept := keptAtOpen(links)
	checkLostAtOpen(t, cs, p, data, hook, kept...)
	if len(es) != 1 || es[0].Data["completions_finished"] != 0 || es[0].Data["kept"] != len(kept)/2 || es[0].Data["records_dropped"] != 1-len(kept)/2 {
		t.Errorf("reconcile log of partial pieces = %v, want no completion finished, the partial piece kept only if linked", entryData(es))
	}
}

// keptAtOpen returns the blocks of the piece of crashMidCompletion served
// after an Open that could not finish its completion: those of the partial
// record, if the partial file is there (it was linked), else none.
func keptAtOpen(links bool) []int {
	if links {
		return []int{0, 2}
	}
	return nil
}

// checkLostAtOpen checks that the piece p, whose interrupted completion
// Open could not finish, is not complete in s, that s serves exactly the
// blocks kept of it, as a partial piece, and that a warning named it.
func checkLostAtOpen(t *testing.T, s *Store, p meta.Piece, data []byte, hook *logtest.Hook, kept ...int) {
	t.Helper()
	if s.Has(p.Digest) || recorded(t, s, BucketPieces, p.Digest) {
		t.Error("unverified piece recorded complete")
	}
	if _, err := s.Load(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of the piece = %v, want fs.ErrNotExist", err)
	}
	checkServed(t, s, p, data, kept...)
	checkConsistent(t, s)
	var want int64
	if len(kept) == 0 {
		checkAbsent(t, s, p.Digest)
		checkNoPartial(t, s, p.Digest)
	} else {
		h, _ := recordedPartial(t, s, p.Digest)
		if h == nil || !equalInts(blocksOf(h), kept) {
			t.Errorf("partial record = %v, want blocks %v", h, kept)
		}
		for _, k := range kept {
			want += blockLen(p.Size, k)
		}
	}
	if got := s.Bytes(); got != want {
		t.Errorf("Bytes = %d, want %d", got, want)
	}
	if len(logged(hook, logrus.WarnLevel, "piece", p.Digest.String())) != 1 {
		t.Error("no warning naming the piece")
	}
}

// crashMidCompletion returns a copy of a cache directory taken after the
// completion gave its file the piece's name (a link, or without links a
// rename) and before the step before (dirsync or commit), as a crash there
// leaves it: blocks 0 and 2 of p were recorded partial, then a Part wrote
// blocks 1 and 3 and completed the piece.
func crashMidCompletion(t *testing.T, links, table bool, before string) (string, meta.Piece, []byte) {
	t.Helper()
	data, p := partData(60, 4)
	if table {
		p = withTable(p, data)
	}
	dir, crashed := t.TempDir(), t.TempDir()
	named, taken := false, false
	s := openT(t, dir, Options{faultHook: func(step string) error {
		switch {
		case step == stepLink && !links:
			return syscall.ENOTSUP
		case step == stepLink || step == stepRename:
			named = true
		case named && step == before && !taken:
			copyTree(t, dir, crashed)
			taken = true
		}
		return nil
	}})
	commitBlocksT(t, s, p, data, 0, 2)
	commitBlocksT(t, s, p, data, 1, 3)
	checkComplete(t, s, p.Digest, data)
	if !taken {
		t.Fatalf("no %s after the completion named its file", before)
	}
	// The copy holds the partial record and the file under the piece's
	// name, and the partial file only if it was linked.
	_, err := os.Stat(pathIn(crashed, p.Digest) + blocksSuffix)
	if links != (err == nil) {
		t.Fatalf("partial file in the copy: %v, want it there: %v", err, links)
	}
	return crashed, p, data
}

// openFinishSteps are the durability steps of an Open that finishes one
// interrupted completion: sync the file, sync its directory, record it.
var openFinishSteps = []string{stepFsync, stepDirsync, stepCommit}

// TestFinishCompletionAtEachStep runs the Open that finishes an interrupted
// completion with a crash before each of its durability steps, and with
// each failing. A crash leaves what the next Open finishes again: the piece
// complete. A failed fsync or directory sync leaves the piece unrecorded
// (its file removed; the partial piece kept if its partial file is there,
// else dropped); a failed transaction fails Open and changes nothing on
// disk, so the next Open finishes the piece.
func TestFinishCompletionAtEachStep(t *testing.T) {
	var got []string
	crashed, _, _ := crashMidCompletion(t, true, false, stepCommit)
	openT(t, crashed, Options{faultHook: func(step string) error {
		got = append(got, step)
		return nil
	}})
	if !equalStrings(got, openFinishSteps) {
		t.Fatalf("steps of Open = %v, want %v", got, openFinishSteps)
	}
	for _, links := range []bool{true, false} {
		for i, step := range openFinishSteps {
			t.Run(fmt.Sprintf("links %v/crash before %s", links, step), func(t *testing.T) {
				crashed, p, data := crashMidCompletion(t, links, true, stepCommit)
				again, calls := t.TempDir(), 0
				openT(t, crashed, Options{faultHook: func(string) error {
					if calls == i {
						copyTree(t, crashed, again)
					}
					calls++
					return nil
				}})
				cs := openT(t, again, Options{})
				checkComplete(t, cs, p.Digest, data)
				checkNoPartial(t, cs, p.Digest)
				checkConsistent(t, cs)
			})
			t.Run(fmt.Sprintf("links %v/fault at %s", links, step), func(t *testing.T) {
				crashed, p, data := crashMidCompletion(t, links, true, stepCommit)
				log, hook := logtest.NewNullLogger()
				hookFn := func(s string) error {
					if s == step {
						return errInjected
					}
					return nil
				}
				cs, err := Open(crashed, Options{Log: log, faultHook: hookFn})
				if step == stepCommit {
					if !errors.Is(err, errInjected) {
						t.Fatalf("Open = %v, want an error wrapping the injected fault", err)
					}
					cs = openT(t, crashed, Options{})
					checkComplete(t, cs, p.Digest, data)
					checkNoPartial(t, cs, p.Digest)
					checkConsistent(t, cs)
					return
				}
				if err != nil {
					t.Fatalf("Open = %v, want nil (the piece is not recorded)", err)
				}
				t.Cleanup(func() { must(t, cs.Close()) })
				checkLostAtOpen(t, cs, p, data, hook, keptAtOpen(links)...)
			})
		}
	}
}
