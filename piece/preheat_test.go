package piece

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// sinkDisk is a disk tier the fake network below writes into, as fetch
// writes into the store.
type sinkDisk struct {
	mu sync.Mutex // guards m
	m  map[meta.Digest][]byte
}

func (s *sinkDisk) Has(d meta.Digest) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[d]
	return ok
}
func (s *sinkDisk) Load(p meta.Piece) ([]byte, error) { return nil, os.ErrNotExist }
func (s *sinkDisk) ReadAt(meta.Piece, []byte, int64) (int, error) {
	return 0, os.ErrNotExist
}
func (s *sinkDisk) Present(meta.Piece, int64, int64) bool { return false }

// sinkNet serves pieces from m, counts requests per piece, fails the pieces
// in bad, and writes what it serves to disk unless keep is false.
type sinkNet struct {
	disk     *sinkDisk
	m        map[meta.Digest][]byte
	bad      map[meta.Digest]bool
	keep     bool
	mu       sync.Mutex // guards requests, flushed
	requests map[meta.Digest]int
	flushed  int
}

func (n *sinkNet) Piece(ctx context.Context, p meta.Piece) ([]byte, error) {
	n.mu.Lock()
	n.requests[p.Digest]++
	n.mu.Unlock()
	if n.bad[p.Digest] {
		return nil, errors.New("origin says 500")
	}
	b := n.m[p.Digest]
	if n.keep {
		n.disk.mu.Lock()
		n.disk.m[p.Digest] = b
		n.disk.mu.Unlock()
	}
	return b, nil
}

func (n *sinkNet) Range(context.Context, meta.Piece, int64, int64, int64) ([]byte, error) {
	return nil, errors.New("preheat fetches whole pieces")
}

func (n *sinkNet) Flush(context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.flushed++
	return nil
}

func newPreheatFixture(t *testing.T, keep bool) (*meta.Manifest, *sinkDisk, *sinkNet, *mapMem, *Reader) {
	m, _, pieces := fixture(t, 40_000) // 10 pieces
	disk := &sinkDisk{m: map[meta.Digest][]byte{}}
	net := &sinkNet{disk: disk, m: pieces, bad: map[meta.Digest]bool{}, keep: keep, requests: map[meta.Digest]int{}}
	mem := &mapMem{m: map[Key][]byte{}}
	return m, disk, net, mem, New(m, Options{Memory: mem, Disk: disk, Network: net})
}

func TestPreheatFetchesOnlyWhatIsMissing(t *testing.T) {
	m, disk, net, mem, r := newPreheatFixture(t, true)
	defer r.Close()
	var held int64
	for i, p := range m.Pieces {
		if i%2 == 0 {
			disk.m[p.Digest] = net.m[p.Digest]
			held += p.Size
		}
	}
	// Each piece twice: preheat deduplicates.
	pieces := append(append([]meta.Piece(nil), m.Pieces...), m.Pieces...)
	var calls int
	var mu sync.Mutex
	memBudget := m.Pieces[1].Size + m.Pieces[3].Size // two of the missing pieces
	res := r.Preheat(context.Background(), pieces, PreheatOptions{Jobs: 3, Memory: memBudget, Progress: func(meta.Piece, bool, error) {
		mu.Lock()
		calls++
		mu.Unlock()
	}})
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	if res.Held != 5 || res.Fetched != 5 || res.HeldBytes != held {
		t.Errorf("held %d (%d bytes), fetched %d; want 5 (%d bytes), 5", res.Held, res.HeldBytes, res.Fetched, held)
	}
	if calls != len(m.Pieces) {
		t.Errorf("progress called %d times, want once per distinct piece (%d)", calls, len(m.Pieces))
	}
	for i, p := range m.Pieces {
		want := 0
		if i%2 == 1 {
			want = 1
		}
		if got := net.requests[p.Digest]; got != want {
			t.Errorf("piece %d: %d requests, want %d", i, got, want)
		}
		if !disk.Has(p.Digest) {
			t.Errorf("piece %d not on disk after preheat", i)
		}
	}
	if net.flushed != 1 {
		t.Errorf("network flushed %d times, want 1", net.flushed)
	}
	var inMem int64
	for k, b := range mem.m {
		if k.Unit != Whole {
			t.Errorf("memory holds %v, want whole pieces only", k)
		}
		inMem += int64(len(b))
	}
	if inMem == 0 || inMem > memBudget {
		t.Errorf("memory holds %d bytes of preheated pieces, want some and at most %d", inMem, memBudget)
	}

	// Again: everything is held, no request at all.
	before := len(net.requests)
	total := 0
	for _, n := range net.requests {
		total += n
	}
	res = r.Preheat(context.Background(), m.Pieces, PreheatOptions{})
	after := 0
	for _, n := range net.requests {
		after += n
	}
	if res.Held != len(m.Pieces) || res.Fetched != 0 || after != total || len(net.requests) != before {
		t.Errorf("second preheat: held %d fetched %d, requests %d → %d; want all held and no request", res.Held, res.Fetched, total, after)
	}
}

func TestPreheatReportsFailures(t *testing.T) {
	m, _, net, _, r := newPreheatFixture(t, true)
	defer r.Close()
	net.bad[m.Pieces[2].Digest] = true
	res := r.Preheat(context.Background(), m.Pieces, PreheatOptions{})
	if len(res.Failed) != 1 || res.Failed[m.Pieces[2].Digest] == nil {
		t.Fatalf("failed %v, want piece 2 only", res.Failed)
	}
	if err := res.Err(); !errors.Is(err, ErrPreheat) {
		t.Errorf("Err() = %v, want ErrPreheat", err)
	}
	if res.Fetched != len(m.Pieces)-1 {
		t.Errorf("fetched %d, want %d", res.Fetched, len(m.Pieces)-1)
	}
}

func TestPreheatNotKeptIsAFailure(t *testing.T) {
	m, _, _, _, r := newPreheatFixture(t, false)
	defer r.Close()
	res := r.Preheat(context.Background(), m.Pieces, PreheatOptions{})
	if len(res.Failed) != len(m.Pieces) || res.Fetched != 0 {
		t.Errorf("fetched %d, failed %d; want every piece failed: the disk kept none", res.Fetched, len(res.Failed))
	}
}

func TestPreheatCanceled(t *testing.T) {
	m, _, net, _, r := newPreheatFixture(t, true)
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := r.Preheat(ctx, m.Pieces, PreheatOptions{})
	if len(res.Failed) != len(m.Pieces) {
		t.Errorf("failed %d of %d pieces, want all: the context had ended", len(res.Failed), len(m.Pieces))
	}
	for d, err := range res.Failed {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("piece %s: %v, want context.Canceled", d, err)
		}
	}
	if len(net.requests) != 0 {
		t.Errorf("%d pieces requested after the context ended", len(net.requests))
	}
}
