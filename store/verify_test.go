package store

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/piecefs/piecefs/meta"
)

// flipByte changes the byte at off of the file name in place, keeping its
// size, as bit rot would.
func flipByte(t *testing.T, name string, off int64) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x20
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// logged returns the entries at level whose field key is value.
func logged(hook *logtest.Hook, level logrus.Level, key string, value any) []*logrus.Entry {
	var es []*logrus.Entry
	for _, e := range hook.AllEntries() {
		if e.Level == level && e.Data[key] == value {
			es = append(es, e)
		}
	}
	return es
}

var pieceReaders = []struct {
	name string
	read func(s *Store, d meta.Digest, size int) ([]byte, error)
}{
	{"ReadAt of a part away from the damage", func(s *Store, d meta.Digest, size int) ([]byte, error) {
		p := make([]byte, 10)
		n, err := s.ReadAt(pieceOf(d, size), p, 5)
		return p[:n], err
	}},
	{"ReadAt of all", func(s *Store, d meta.Digest, size int) ([]byte, error) {
		p := make([]byte, size)
		n, err := s.ReadAt(pieceOf(d, size), p, 0)
		return p[:n], err
	}},
	{"Load", func(s *Store, d meta.Digest, size int) ([]byte, error) { return s.Load(pieceOf(d, size)) }},
}

// TestFlippedByteDetectedAtFirstRead flips a byte in a piece written by an
// earlier process: no read serves any of it, the piece is dropped with a
// warning, and it can be stored again.
func TestFlippedByteDetectedAtFirstRead(t *testing.T) {
	data := content(1, 5000)
	for _, r := range pieceReaders {
		t.Run(r.name, func(t *testing.T) {
			dir := t.TempDir()
			d := seed(t, dir, [][]byte{data})[0]
			flipByte(t, dir+"/"+meta.PiecePath(d), 4000)
			log, hook := logtest.NewNullLogger()
			s := openT(t, dir, Options{Log: log})
			got, err := r.read(s, d, len(data))
			if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read = %d bytes, %v; want an error wrapping fs.ErrNotExist and ErrCorrupt", len(got), err)
			}
			if len(got) != 0 {
				t.Errorf("read served %d bytes of a corrupt piece", len(got))
			}
			checkAbsent(t, s, d)
			if len(logged(hook, logrus.WarnLevel, "piece", d.String())) == 0 {
				t.Errorf("no warning naming piece %s; log: %v", d, hook.AllEntries())
			}
			putT(t, s, data) // fetched again
			checkComplete(t, s, d, data)
		})
	}
}

func TestGoodPieceServedAfterFirstRead(t *testing.T) {
	data := content(2, 3000)
	for _, r := range pieceReaders {
		t.Run(r.name, func(t *testing.T) {
			dir := t.TempDir()
			d := seed(t, dir, [][]byte{data})[0]
			s := openT(t, dir, Options{})
			for range 2 {
				got, err := r.read(s, d, len(data))
				if err != nil || !bytes.Contains(data, got) || len(got) == 0 {
					t.Fatalf("read = %d bytes, %v; want a part of the piece", len(got), err)
				}
			}
			if !sumsInMemory(s, d) {
				t.Error("no checksums in memory after a read")
			}
		})
	}
}

func sumsInMemory(s *Store, d meta.Digest) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.index.get(d)
	return ok && p.sums != nil
}

// TestChecksumsLoadedOnFirstRead checks what a process holds in memory:
// the checksums of the pieces it wrote, and of those it has read; not those
// of pieces found at Open, which cost nothing until read.
func TestChecksumsLoadedOnFirstRead(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	put := putT(t, s, content(3, 100))
	if !sumsInMemory(s, put) {
		t.Error("no checksums in memory for a piece written by this process")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{})
	if sumsInMemory(s, put) {
		t.Error("checksums in memory for a piece found at Open, before any read")
	}
	readAll(t, s, put, 100)
	if !sumsInMemory(s, put) {
		t.Error("no checksums in memory after the piece's first read")
	}
}

// TestLoadChecksEveryCall damages a piece after it was loaded: Load still
// notices, since its caller keeps what it returns.
func TestLoadChecksEveryCall(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	data := content(4, 2000)
	d := putT(t, s, data)
	if got, err := s.Load(pieceOf(d, len(data))); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Load = %d bytes, %v; want the piece", len(got), err)
	}
	flipByte(t, s.piecePath(d), 1999)
	if _, err := s.Load(pieceOf(d, len(data))); !errors.Is(err, ErrCorrupt) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of a damaged piece = %v, want an error wrapping ErrCorrupt and fs.ErrNotExist", err)
	}
	checkAbsent(t, s, d)
}

// TestConcurrentFirstReads reads a good and a corrupt piece from several
// goroutines at once, all first reads: the good one is served whole, the
// corrupt one never.
func TestConcurrentFirstReads(t *testing.T) {
	dir := t.TempDir()
	good, bad := content(5, 50_000), content(6, 50_000)
	ds := seed(t, dir, [][]byte{good, bad})
	flipByte(t, dir+"/"+meta.PiecePath(ds[1]), 0)
	s := openT(t, dir, Options{OpenFiles: 1})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := pieceReaders[g%len(pieceReaders)]
			if got, err := r.read(s, ds[0], len(good)); err != nil || !bytes.Contains(good, got) {
				t.Errorf("%s of a good piece = %d bytes, %v", r.name, len(got), err)
			}
			if got, err := r.read(s, ds[1], len(bad)); !errors.Is(err, fs.ErrNotExist) || len(got) != 0 {
				t.Errorf("%s of a corrupt piece = %d bytes, %v; want none and fs.ErrNotExist", r.name, len(got), err)
			}
		})
	}
	wg.Wait()
	if s.Has(ds[1]) {
		t.Error("corrupt piece still complete")
	}
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	var datas [][]byte
	for i := range 6 {
		datas = append(datas, content(i, 1000+i))
	}
	ds := seed(t, dir, datas)
	s := openT(t, dir, Options{})
	m1, m2 := []byte(`{"version":1}`), []byte(`{"version":2}`)
	for _, m := range [][]byte{m1, m2} {
		if err := s.SaveManifest("o", "", meta.Sum(m), m); err != nil {
			t.Fatal(err)
		}
	}
	flipByte(t, s.piecePath(ds[1]), 500)
	if err := os.Truncate(s.piecePath(ds[2]), 10); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.piecePath(ds[3])); err != nil {
		t.Fatal(err)
	}
	flipByte(t, s.manifestPath(meta.Sum(m2)), 3)

	sizes := map[meta.Digest]int64{meta.Sum(m2): int64(len(m2))}
	for i, d := range ds {
		sizes[d] = int64(len(datas[i]))
	}
	var reported []meta.Digest
	report := func(d meta.Digest, err error) {
		reported = append(reported, d)
		var de *DroppedError
		if !errors.As(err, &de) || de.Digest != d || de.Size != sizes[d] || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("report(%s, %v): want a *DroppedError with its size %d, wrapping fs.ErrNotExist", d, err, sizes[d])
		}
	}
	checked, bad, err := s.Verify(context.Background(), report)
	if checked != 6 || bad != 3 || err != nil {
		t.Errorf("Verify = %d, %d, %v; want 6, 3, nil", checked, bad, err)
	}
	checked, bad, err = s.VerifyManifests(context.Background(), report)
	if checked != 2 || bad != 1 || err != nil {
		t.Errorf("VerifyManifests = %d, %d, %v; want 2, 1, nil", checked, bad, err)
	}
	want := []meta.Digest{ds[1], ds[2], ds[3], meta.Sum(m2)}
	slices.SortFunc(reported, func(a, b meta.Digest) int { return bytes.Compare(a[:], b[:]) })
	slices.SortFunc(want, func(a, b meta.Digest) int { return bytes.Compare(a[:], b[:]) })
	if !slices.Equal(reported, want) {
		t.Errorf("reported %x, want %x", reported, want)
	}
	for i, d := range ds {
		if got, want := s.Has(d), i == 0 || i > 3; got != want {
			t.Errorf("Has(piece %d) after Verify = %v, want %v", i, got, want)
		}
	}
	s.flush() // the checksums of the pieces seed recorded without them
	checkConsistent(t, s)
	if recorded(t, s, BucketManifests, meta.Sum(m2)) {
		t.Error("corrupt manifest still recorded")
	}
	if checked, bad, err := s.Verify(context.Background(), nil); checked != 3 || bad != 0 || err != nil {
		t.Errorf("second Verify = %d, %d, %v; want 3, 0, nil", checked, bad, err)
	}
	if checked, bad, err := s.VerifyManifests(context.Background(), nil); checked != 1 || bad != 0 || err != nil {
		t.Errorf("second VerifyManifests = %d, %d, %v; want 1, 0, nil", checked, bad, err)
	}
}

func TestVerifyStops(t *testing.T) {
	dir := t.TempDir()
	seed(t, dir, [][]byte{content(1, 10), content(2, 10)})
	s := openT(t, dir, Options{})
	m := []byte(`{"version":1}`)
	if err := s.SaveManifest("o", "", meta.Sum(m), m); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	verifiers := map[string]func(context.Context, func(meta.Digest, error)) (int, int, error){
		"Verify": s.Verify, "VerifyManifests": s.VerifyManifests,
	}
	for name, verify := range verifiers {
		if checked, _, err := verify(ctx, nil); !errors.Is(err, context.Canceled) || checked != 0 {
			t.Errorf("%s with a canceled context = %d checked, %v; want 0, context.Canceled", name, checked, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, verify := range verifiers {
		if _, _, err := verify(context.Background(), nil); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want an error wrapping ErrClosed", name, err)
		}
	}
}
