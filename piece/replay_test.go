package piece

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
)

// countLimiter lets everything through and counts the bytes it was asked for.
type countLimiter struct {
	mu    sync.Mutex // guards asked
	asked []int
}

func (l *countLimiter) WaitN(_ context.Context, n int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked = append(l.asked, n)
	return nil
}

func (l *countLimiter) Burst() int { return 100000 }

func indexOf(m *meta.Manifest) map[meta.Digest]int {
	index := map[meta.Digest]int{}
	for i, p := range m.Pieces {
		index[p.Digest] = i
	}
	return index
}

// TestReplayOrderAndSkips: the slices' missing units are fetched in the
// list's order, a run per request, and units held on disk or in memory, or
// fetched earlier in the list, cost nothing.
func TestReplayOrderAndSkips(t *testing.T) {
	m, _, pieces := fixtureV2(t, 3*200000)
	const u = 64 << 10
	e := &m.Entries[1]
	p0, p2 := m.Pieces[0], m.Pieces[2]
	disk := &unitDisk{units: map[Key][]byte{{p2.Digest, 1}: pieces[p2.Digest][u : 2*u]}}
	mem := newMem(nil)
	mem.Add(Key{p0.Digest, 2}, pieces[p0.Digest][2*u:3*u])
	net := &mapNet{m: pieces, index: indexOf(m)}
	r := New(m, Options{Memory: mem, Disk: disk, Network: net})
	defer r.Close()
	var slices []meta.Slice
	for _, rg := range [][2]int64{
		{400000, 3*u - 7}, // piece 2, units 0..2 but 1 (on disk)
		{0, 4 * u},        // piece 0, units 0..3 but 2 (in memory)
		{400000 + 10, 5},  // piece 2 unit 0 again: nothing
		{200000, 10},      // piece 1, unit 0
	} {
		slices = m.AppendSlices(slices, e, rg[0], rg[1])
	}
	lim := &countLimiter{}
	res := r.Replay(context.Background(), slices, ReplayOptions{Jobs: 1, Limit: lim, Memory: 2 * u})
	want := []string{
		"2 0+65536", fmt.Sprintf("2 %d+%d", 2*u, u),
		"0 0+131072", fmt.Sprintf("0 %d+%d", 3*u, 200007-3*u),
		"1 0+65536",
	}
	if fmt.Sprint(net.ranges) != fmt.Sprint(want) {
		t.Errorf("ranges fetched\n%q, want\n%q", net.ranges, want)
	}
	if res.Fetches != 5 || res.Failed != 0 || res.Err != nil || res.HeldBytes != 2*u {
		t.Errorf("result %+v; want 5 fetches, 2 units held", res)
	}
	total := 0
	for _, n := range lim.asked {
		total += n
	}
	if int64(total) != res.FetchedBytes {
		t.Errorf("the limiter was asked for %d bytes, %d were fetched", total, res.FetchedBytes)
	}
	// The memory budget of two units took piece 2's first run, no more.
	if _, ok := mem.Get(Key{p2.Digest, 0}); !ok {
		t.Error("the first unit fetched is not in memory")
	}
	if _, ok := mem.Get(Key{p0.Digest, 0}); ok {
		t.Error("a unit beyond the memory budget went into memory")
	}
	// Read now, the replayed units cost no request.
	net.ranges = nil
	b := make([]byte, 10)
	if _, err := r.ReadAt(context.Background(), e, b, 400000); err != nil {
		t.Fatal(err)
	}
	if len(net.ranges) != 0 {
		t.Errorf("a read of a replayed unit fetched %q", net.ranges)
	}
}

// TestReplayWholePieces: for a version 1 manifest whole pieces are fetched,
// once each, and pieces on disk are skipped.
func TestReplayWholePieces(t *testing.T) {
	m, _, pieces := fixture(t, 20000)
	onDisk := map[meta.Digest][]byte{m.Pieces[1].Digest: pieces[m.Pieces[1].Digest]}
	net := &mapNet{m: pieces}
	r := New(m, Options{Disk: &mapDisk{m: onDisk}, Network: net})
	defer r.Close()
	slices := m.AppendSlices(nil, &m.Entries[1], 0, 12000)
	slices = m.AppendSlices(slices, &m.Entries[1], 100, 10)
	res := r.Replay(context.Background(), slices, ReplayOptions{})
	if net.fetches != 2 || res.Fetches != 2 || res.HeldBytes != m.Pieces[1].Size {
		t.Errorf("%d network fetches, result %+v; want 2, piece 1 held", net.fetches, res)
	}
}

// TestReplayCanceled: a canceled replay starts nothing and says why.
func TestReplayCanceled(t *testing.T) {
	m, _, pieces := fixtureV2(t, 200000)
	net := &mapNet{m: pieces}
	r := New(m, Options{Disk: &mapDisk{}, Network: net})
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := r.Replay(ctx, m.AppendSlices(nil, &m.Entries[1], 0, 200000), ReplayOptions{})
	if net.fetches != 0 || res.Err == nil {
		t.Errorf("%d fetches, err %v; want none, canceled", net.fetches, res.Err)
	}
}

// TestReplayFailureCounted: a failed fetch is counted and the rest go on.
func TestReplayFailureCounted(t *testing.T) {
	m, _, _ := fixtureV2(t, 200000)
	net := &mapNet{m: map[meta.Digest][]byte{}}
	r := New(m, Options{Disk: &mapDisk{}, Network: net})
	defer r.Close()
	res := r.Replay(context.Background(), m.AppendSlices(nil, &m.Entries[1], 0, 200000), ReplayOptions{})
	if res.Failed != 1 || res.Fetches != 0 {
		t.Errorf("result %+v; want one failure", res)
	}
}

// blockingNet holds every ranged fetch of one piece until released.
type blockingNet struct {
	mapNet
	hold    meta.Digest
	release chan struct{}
	held    chan struct{} // one send per fetch held
}

func (n *blockingNet) Range(ctx context.Context, p meta.Piece, blockSize, off, size int64) ([]byte, error) {
	if p.Digest == n.hold {
		n.held <- struct{}{}
		select {
		case <-n.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return n.mapNet.Range(ctx, p, blockSize, off, size)
}

// TestReplayDoesNotHoldReads: with every replay fetch in flight stuck at the
// origin, a read of another piece is served at once: reads take no part of
// the replay's bound.
func TestReplayDoesNotHoldReads(t *testing.T) {
	m, content, pieces := fixtureV2(t, 3*200000)
	net := &blockingNet{mapNet: mapNet{m: pieces}, hold: m.Pieces[0].Digest, release: make(chan struct{}), held: make(chan struct{}, 8)}
	r := New(m, Options{Memory: newMem(nil), Disk: &mapDisk{}, Network: net})
	defer r.Close()
	// Units 0 and 2 of piece 0: two runs, two fetches, both held.
	slices := m.AppendSlices(nil, &m.Entries[1], 0, 10)
	slices = m.AppendSlices(slices, &m.Entries[1], 2<<16, 10)
	slices = m.AppendSlices(slices, &m.Entries[1], 400000, 10)
	done := make(chan ReplayResult)
	go func() { done <- r.Replay(context.Background(), slices, ReplayOptions{Jobs: 2}) }()
	<-net.held
	<-net.held
	b := make([]byte, 100)
	readDone := make(chan error)
	go func() {
		_, err := r.ReadAt(context.Background(), &m.Entries[1], b, 450000)
		readDone <- err
	}()
	select {
	case err := <-readDone:
		if err != nil || string(b) != string(content[450000:450100]) {
			t.Fatalf("read: %v, or other bytes", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read waited for the replay's fetches")
	}
	// The replay's fetch of the unit that read fetched, waiting for a
	// slot meanwhile, is not made.
	close(net.release)
	if res := <-done; res.Fetches != 2 || res.HeldBytes != 1<<16 {
		t.Errorf("result %+v, want 2 fetches and the read's unit held", res)
	}
}
