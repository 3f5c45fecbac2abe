package e2e

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

const (
	// boundCycles is how many open/read/close cycles TestFDsFlat runs.
	boundCycles = 100_000
	// boundFDSlack is how many descriptors a mount may have opened for
	// reasons of its own between two counts (a connection, a timer).
	boundFDSlack = 8
	// boundOpenFiles is the mount's open-file bound in TestFDsFlat, below
	// the number of pieces the fixture's files span so that the bound is
	// reached.
	boundOpenFiles = 128
	// boundConnSlack covers the connections to the origin a mount keeps
	// idle (fetch allows 16 per host) and boundFDSlack.
	boundConnSlack = 16 + boundFDSlack
)

// TestFDsFlat checks that a mount's open file descriptors do not grow
// with the files opened on it: across 100,000 open/read/close cycles the
// count ends where it started, and with 1,300 files held open at once it
// stays within the store's open-file cache and a few connections.
//
// The memory tier is off and every read first drops the kernel's cached
// pages of its range, so that reads reach the store's open-file cache.
func TestFDsFlat(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	m := startMount(t, origin.URL(), t.TempDir(), "--memory-cache", "0", "--open-files", strconv.Itoa(boundOpenFiles))
	pid := m.PID()
	r := newBoundFDReader(t, m.dir)
	fds0 := boundFDs(t, pid)
	ceiling := fds0 + boundOpenFiles + boundConnSlack
	disarm := boundWatchdog(t, m, 15*time.Minute)
	defer disarm()

	start := time.Now()
	r.warm(t)
	fds1 := boundFDs(t, pid)
	t.Logf("mount fds: %d after start, %d after reading everything twice (%v)", fds0, fds1, time.Since(start).Round(time.Millisecond))

	t.Run("cycles", func(t *testing.T) {
		start := time.Now()
		peak := r.cycles(t, pid, boundCycles)
		final := boundSettledFDs(t, pid, fds1+boundFDSlack)
		t.Logf("%d cycles in %v: mount fds before %d, after %d, max %d", boundCycles, time.Since(start).Round(time.Millisecond), fds1, final, peak)
		if final > fds1+boundFDSlack {
			t.Errorf("mount fds after %d open/read/close cycles: %d, want at most %d (before) + %d", boundCycles, final, fds1, boundFDSlack)
		}
		if peak > ceiling {
			t.Errorf("mount fds during the cycles: max %d, want at most %d (at start) + %d (open-file cache) + %d", peak, fds0, boundOpenFiles, boundConnSlack)
		}
	})

	t.Run("held-open", func(t *testing.T) {
		self0 := boundFDs(t, os.Getpid())
		peak, n := r.holdAll(t, pid)
		self1 := boundFDs(t, os.Getpid())
		final := boundSettledFDs(t, pid, fds1+boundFDSlack)
		t.Logf("%d files held open: mount fds max %d while held, %d after closing (start %d); test process fds %d before, %d after",
			n, peak, final, fds0, self0, self1)
		if peak > ceiling {
			t.Errorf("mount fds with %d files open on it: max %d, want at most %d (at start) + %d (open-file cache) + %d", n, peak, fds0, boundOpenFiles, boundConnSlack)
		}
		if self1 > self0 {
			t.Errorf("test process fds: %d before opening %d files, %d after closing them", self0, n, self1)
		}
	})
	m.Stop(t)
}

// boundSettledFDs waits up to 5s for a mount's fd count to come down to
// want (FUSE releases arrive after close returns) and returns the count.
func boundSettledFDs(t *testing.T, pid, want int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := boundFDs(t, pid)
		if n <= want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// boundFDReader reads files of a mount of the shared tree and checks what
// it reads against the source, which it holds in memory (small files) or
// open (the big file).
type boundFDReader struct {
	mnt    string
	small  [][]byte // by index in fx.tree.small
	bigSrc *os.File
	rng    *rand.Rand
}

func newBoundFDReader(t *testing.T, mnt string) *boundFDReader {
	t.Helper()
	r := &boundFDReader{mnt: mnt, rng: rand.New(rand.NewPCG(5, 6))}
	for _, rel := range fx.tree.small {
		b, err := os.ReadFile(filepath.Join(fx.tree.root, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatal(err)
		}
		r.small = append(r.small, b)
	}
	f, err := os.Open(filepath.Join(fx.tree.root, fx.tree.big))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r.bigSrc = f
	return r
}

// warm reads every small file and the whole big file twice: the first
// pass fetches, the second reads from disk and so fills the open-file
// cache, so that the cycles start from a mount in its steady state.
func (r *boundFDReader) warm(t *testing.T) {
	t.Helper()
	for range 2 {
		for i := range r.small {
			r.read(t, fx.tree.small[i], 0, int64(len(r.small[i])), r.small[i])
		}
		for off := int64(0); off < bigSize; off += pieceSize {
			r.read(t, fx.tree.big, off, pieceSize, r.bigRange(t, off, pieceSize))
		}
	}
}

// cycles runs n open/read/close cycles, alternating between the small
// files in turn and the big file at random offsets, and returns the
// largest fd count of the mount sampled every thousand cycles.
func (r *boundFDReader) cycles(t *testing.T, pid, n int) int {
	t.Helper()
	peak := 0
	for i := range n {
		if i%2 == 0 {
			k := i / 2 % len(r.small)
			size := int64(len(r.small[k]))
			off := r.rng.Int64N(size)
			end := min(size, off+4096)
			r.read(t, fx.tree.small[k], off, end-off, r.small[k][off:end])
		} else {
			off := r.rng.Int64N(bigSize - 4096)
			r.read(t, fx.tree.big, off, 4096, r.bigRange(t, off, 4096))
		}
		if i%1000 == 999 {
			peak = max(peak, boundFDs(t, pid))
		}
	}
	return peak
}

// read opens rel on the mount, drops the kernel's cached pages of the
// range, reads [off, +n), compares it with want and closes the file.
func (r *boundFDReader) read(t *testing.T, rel string, off, n int64, want []byte) {
	t.Helper()
	f, err := os.Open(filepath.Join(r.mnt, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatalf("open %s on the mount: %v", rel, err)
	}
	defer f.Close()
	boundDropCache(t, f, off, n)
	got := make([]byte, n)
	if _, err := f.ReadAt(got, off); err != nil {
		t.Fatalf("read %s [%d, +%d) on the mount: %v", rel, off, n, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %s [%d, +%d) on the mount: bytes differ from the source", rel, off, n)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s on the mount: %v", rel, err)
	}
}

func (r *boundFDReader) bigRange(t *testing.T, off, n int64) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := r.bigSrc.ReadAt(b, off); err != nil {
		t.Fatalf("read the source of %s [%d, +%d): %v", fx.tree.big, off, n, err)
	}
	return b
}

// holdAll opens every small file and, once per piece, the big file, reads
// a byte from each through its own descriptor while all stay open, then
// closes them all. It returns the mount's largest fd count sampled while
// they were open and how many files it held.
func (r *boundFDReader) holdAll(t *testing.T, pid int) (peak, n int) {
	t.Helper()
	var held []*os.File
	defer func() {
		for _, f := range held {
			f.Close() // after a failure only; the loop below closes them otherwise
		}
	}()
	hold := func(rel string, off int64, want byte) {
		f, err := os.Open(filepath.Join(r.mnt, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatalf("open %s on the mount with %d files open: %v", rel, len(held), err)
		}
		held = append(held, f)
		boundDropCache(t, f, off, 1)
		b := []byte{0}
		if _, err := f.ReadAt(b, off); err != nil || b[0] != want {
			t.Fatalf("read byte %d of %s on the mount with %d files open: %x, %v; want %x", off, rel, len(held), b, err, want)
		}
		if len(held)%100 == 0 {
			peak = max(peak, boundFDs(t, pid))
		}
	}
	for i, rel := range fx.tree.small {
		hold(rel, 0, r.small[i][0])
	}
	for off := int64(7); off < bigSize; off += pieceSize {
		hold(fx.tree.big, off, r.bigRange(t, off, 1)[0])
	}
	peak = max(peak, boundFDs(t, pid))
	n = len(held)
	for len(held) > 0 {
		f := held[len(held)-1]
		held = held[:len(held)-1]
		if err := f.Close(); err != nil {
			t.Errorf("close %s on the mount: %v", f.Name(), err)
		}
	}
	return peak, n
}
