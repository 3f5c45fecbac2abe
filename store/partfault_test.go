package store

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// partScenario is a piece written through Parts, one after another, each
// writing the blocks of one set and committing them.
type partScenario struct {
	name  string
	table bool     // the piece has a block table (so its completion is hashed)
	parts [][]int  // blocks of each Part; together, every block of a 4-block piece
	want  []string // the durability steps they take, in order
}

// The steps of a Part: write each block, sync the file, then either record
// (syncing the directory first for the file's first record), or complete:
// rename, sync the directory, record.
var (
	partFirst    = []string{stepFsync, stepDirsync, stepCommit}
	partNext     = []string{stepFsync, stepCommit}
	partComplete = []string{stepFsync, stepRename, stepDirsync, stepCommit}
	writes4      = []string{stepWrite, stepWrite, stepWrite, stepWrite}
)

var partScenarios = []partScenario{
	// The first Part records a partial piece, the second adds to the
	// record, the third completes it.
	{name: "assembled", parts: [][]int{{0, 2}, {1}, {3}}, want: slices.Concat(
		[]string{stepWrite, stepWrite}, partFirst, []string{stepWrite}, partNext, []string{stepWrite}, partComplete)},
	// One Part writes the whole piece: no partial record.
	{name: "alone", parts: [][]int{{0, 1, 2, 3}}, want: slices.Concat(writes4, partComplete)},
	{name: "alone with a block table", table: true, parts: [][]int{{0, 1, 2, 3}}, want: slices.Concat(writes4, partComplete)},
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
	s := openT(t, t.TempDir(), Options{faultHook: func(step string) error {
		got = append(got, stepAt{step, cur})
		return nil
	}})
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
// recorded: those of the Parts whose commit step came before it, none if
// the crash falls between a completing rename and its transaction (the
// partial file has lost its name, and the piece is not recorded yet).
func (sc partScenario) recordedBefore(steps []stepAt, i int) []int {
	var ks []int
	for j, st := range steps[:i] {
		if st.step == stepCommit {
			ks = append(ks, sc.parts[st.part]...)
		}
		if st.step == stepRename && !slices.ContainsFunc(steps[j:i], func(s stepAt) bool { return s.step == stepCommit }) {
			return nil
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
			name := "done"
			if i < len(steps) {
				name = fmt.Sprintf("%s/before %d %s of part %d", sc.name, i, steps[i].step, steps[i].part)
			}
			t.Run(name, func(t *testing.T) {
				dir, crashed := t.TempDir(), t.TempDir()
				calls := 0
				s := openT(t, dir, Options{faultHook: func(string) error {
					if calls == i {
						copyTree(t, dir, crashed)
					}
					calls++
					return nil
				}})
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
// them unless a failed completion dropped the partial piece, and the same
// after reopening.
func TestPartFaultAtEachStep(t *testing.T) {
	for _, sc := range partScenarios {
		steps := sc.steps(t)
		for i, st := range steps {
			t.Run(fmt.Sprintf("%s/%d %s of part %d", sc.name, i, st.step, st.part), func(t *testing.T) {
				dir := t.TempDir()
				calls := 0
				s := openT(t, dir, Options{faultHook: func(string) error {
					calls++
					if calls-1 == i {
						return errInjected
					}
					return nil
				}})
				p, data := sc.piece()
				cur := 0
				ok := sc.run(t, s, p, data, &cur)
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
				// A completion that fails after its rename drops the
				// partial piece; any other failure leaves the rest.
				dropped := sc.completes(st.part) && (st.step == stepDirsync || st.step == stepCommit)
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
