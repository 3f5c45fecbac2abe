package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/piece"
	"github.com/piecefs/piecefs/store"
)

// treeManifest, pieces of 4096 bytes: d/a (pieces 0, 1), d/b (piece 1
// shared, 2), d/e/f (3),
// c (4), h a hardlink to c, s a symlink, empty an empty file.
func treeManifest(t *testing.T) *meta.Manifest {
	t.Helper()
	const ps = 4096
	var pieces []meta.Piece
	for i := range 5 {
		pieces = append(pieces, meta.Piece{Digest: meta.Sum([]byte{byte(i)}), Size: ps})
	}
	file := func(p string, ex ...meta.Extent) meta.Entry {
		var n int64
		for _, e := range ex {
			n += e.Length
		}
		return meta.Entry{Path: p, Kind: meta.KindFile, Mode: 0o644, Size: n, Extents: ex}
	}
	m := &meta.Manifest{Format: meta.Format, Version: meta.VersionWholePieces, PieceSize: ps, Pieces: pieces,
		Entries: []meta.Entry{
			{Path: ".", Kind: meta.KindDir, Mode: 0o755},
			file("c", meta.Extent{Piece: 4, Length: ps}),
			{Path: "d", Kind: meta.KindDir, Mode: 0o755},
			file("d/a", meta.Extent{Piece: 0, Length: ps}, meta.Extent{Piece: 1, Length: ps / 2}),
			file("d/b", meta.Extent{Piece: 1, Offset: ps / 2, Length: ps / 2}, meta.Extent{Piece: 2, Length: ps}),
			{Path: "d/e", Kind: meta.KindDir, Mode: 0o755},
			file("d/e/f", meta.Extent{Piece: 3, Length: ps}),
			file("empty"),
			{Path: "h", Kind: meta.KindHardlink, Target: "c"},
			{Path: "s", Kind: meta.KindSymlink, Mode: 0o777, Target: "c"},
		}}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSelectFiles(t *testing.T) {
	m := treeManifest(t)
	paths := func(fs []treeFile) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Path)
		}
		return out
	}
	tests := []struct {
		in   []string
		want []string
		err  string
	}{
		{in: []string{""}, want: []string{"c", "d/a", "d/b", "d/e/f", "empty", "h"}},
		{in: []string{"/"}, want: []string{"c", "d/a", "d/b", "d/e/f", "empty", "h"}},
		{in: []string{"d"}, want: []string{"d/a", "d/b", "d/e/f"}},
		{in: []string{"/d/e/", "d"}, want: []string{"d/e/f", "d/a", "d/b"}},
		{in: []string{"d/a", "d/a"}, want: []string{"d/a"}},
		{in: []string{"h"}, want: []string{"h"}},
		{in: []string{"s"}, want: nil},
		{in: []string{"../../etc/passwd"}, err: "/etc/passwd: no such file"},
		{in: []string{"nope"}, err: "/nope: no such file"},
	}
	for _, tt := range tests {
		got, err := selectFiles(m, tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("selectFiles(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(paths(got), tt.want) {
			t.Errorf("selectFiles(%q) = %q, %v; want %q", tt.in, paths(got), err, tt.want)
		}
	}
	files, _ := selectFiles(m, []string{"d"})
	if got := piecesOf(m, files); len(got) != 4 || got[0] != m.Pieces[0] || got[3] != m.Pieces[3] {
		t.Errorf("pieces of d: %v, want pieces 0–3 once each", got)
	}
}

func TestControlSocketPath(t *testing.T) {
	short := t.TempDir()
	if p, err := controlSocketPath(short); err != nil || p != filepath.Join(short, controlSocketName) {
		t.Errorf("controlSocketPath(%s) = %s, %v", short, p, err)
	}
	long := "/" + strings.Repeat("x", 120)
	p, err := controlSocketPath(long)
	if err != nil || len(p) > maxSocketPath || !strings.HasPrefix(p, os.TempDir()) {
		t.Errorf("controlSocketPath(long) = %s, %v; want a short path in the temporary directory", p, err)
	}
	if p2, _ := controlSocketPath(long + "y"); p2 == p {
		t.Errorf("two cache directories share the socket %s", p)
	}
}

// fakePins is a pinStore in memory with a bound.
type fakePins struct {
	mu     sync.Mutex
	max    int64
	owners map[string][]meta.Piece
	held   map[meta.Digest]bool
}

func newFakePins(max int64) *fakePins {
	return &fakePins{max: max, owners: map[string][]meta.Piece{}, held: map[meta.Digest]bool{}}
}

func (f *fakePins) pinnedAfter(owner string, pieces []meta.Piece) int64 {
	seen := map[meta.Digest]int64{}
	for o, ps := range f.owners {
		if o != owner {
			for _, p := range ps {
				seen[p.Digest] = p.Size
			}
		}
	}
	for _, p := range pieces {
		seen[p.Digest] = p.Size
	}
	var n int64
	for _, s := range seen {
		n += s
	}
	return n
}

func (f *fakePins) PinCheck(owner string, pieces []meta.Piece) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.pinnedAfter(owner, pieces)
	if f.max > 0 && n > f.max {
		return n, fmt.Errorf("%d pinned bytes > %d: %w", n, f.max, store.ErrPinBudget)
	}
	return n, nil
}

func (f *fakePins) Pin(owner string, pieces []meta.Piece) error {
	if _, err := f.PinCheck(owner, pieces); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.owners[owner] = pieces
	return nil
}

func (f *fakePins) Unpin(owners ...string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for o := range f.owners {
		for _, name := range owners {
			if o == name || strings.HasPrefix(o, name+"/") {
				delete(f.owners, o)
				n++
				break
			}
		}
	}
	return n, nil
}

func (f *fakePins) Pinned(d meta.Digest) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ps := range f.owners {
		for _, p := range ps {
			if p.Digest == d {
				return true
			}
		}
	}
	return false
}

func (f *fakePins) Cached(p meta.Piece, off, n int64) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held[p.Digest] {
		return n
	}
	return 0
}

func (f *fakePins) Stats() store.Stats {
	return store.Stats{PinnedBytes: f.pinnedAfter("", nil), Pins: len(f.owners), MaxBytes: f.max}
}

// fakePreheater holds what it is asked for, except the pieces in bad.
type fakePreheater struct {
	pins  *fakePins
	bad   map[meta.Digest]bool
	calls int
}

func (f *fakePreheater) Preheat(ctx context.Context, pieces []meta.Piece, o piece.PreheatOptions) piece.PreheatResult {
	f.calls++
	res := piece.PreheatResult{Failed: map[meta.Digest]error{}}
	for _, p := range pieces {
		switch {
		case f.bad[p.Digest]:
			res.Failed[p.Digest] = errors.New("origin says 500")
			o.Progress(p, false, res.Failed[p.Digest])
		case f.pins.held[p.Digest]:
			res.Held++
			res.HeldBytes += p.Size
			o.Progress(p, false, nil)
		default:
			f.pins.held[p.Digest] = true
			res.Fetched++
			res.FetchedBytes += p.Size
			o.Progress(p, true, nil)
		}
	}
	return res
}

func newTestEnv(t *testing.T, max int64) (preheatEnv, *fakePins, *fakePreheater) {
	m := treeManifest(t)
	pins := newFakePins(max)
	pre := &fakePreheater{pins: pins, bad: map[meta.Digest]bool{}}
	return preheatEnv{m: m, origin: "http://o", store: pins, reader: pre}, pins, pre
}

func TestPreheatRun(t *testing.T) {
	env, pins, pre := newTestEnv(t, 0)
	pins.held[env.m.Pieces[0].Digest] = true
	pre.bad[env.m.Pieces[2].Digest] = true
	var last preheatProgress
	sum, err := env.run(context.Background(), preheatRequest{Paths: []string{"d"}, Pin: true}, func(p preheatProgress) { last = p })
	if err != nil {
		t.Fatal(err)
	}
	want := preheatProgress{Total: 4 * 4096, Held: 4096, Fetched: 2 * 4096, Failed: 4096}
	if sum.preheatProgress != want || last != want {
		t.Errorf("summary %+v, last tick %+v; want %+v", sum.preheatProgress, last, want)
	}
	if len(sum.FailedFiles) != 1 || sum.FailedFiles[0].Path != "/d/b" {
		t.Errorf("failed files %+v, want /d/b only (the file of piece 2)", sum.FailedFiles)
	}
	if sum.Files != 3 || sum.Pieces != 4 || sum.PinnedBytes != 4*4096 {
		t.Errorf("files %d pieces %d pinned %d; want 3, 4, 4×4096", sum.Files, sum.Pieces, sum.PinnedBytes)
	}
	if _, ok := pins.owners["http://o\x00/d"]; !ok {
		t.Errorf("pins %v, want one named for the origin and /d", pins.owners)
	}
	line := sum.summaryLine()
	for _, w := range []string{"preheated 3 files", "4 pieces", "failed, in 1 file", "pinned"} {
		if !strings.Contains(line, w) {
			t.Errorf("summary line %q lacks %q", line, w)
		}
	}
	if err := reportPreheat(&strings.Builder{}, &strings.Builder{}, sum, false); !errors.Is(err, errPreheatFailed) {
		t.Errorf("reportPreheat: %v, want errPreheatFailed", err)
	}

	n, err := env.unpin([]string{"/"})
	if err != nil || n != 1 || len(pins.owners) != 0 {
		t.Errorf("unpin /: %d, %v; owners left %v", n, err, pins.owners)
	}
}

func TestPreheatPinOverBudgetFetchesNothing(t *testing.T) {
	env, pins, pre := newTestEnv(t, 3*4096)
	// c pinned by another pin: 4096 of the bound's 3×4096 left for d's 4×4096.
	if err := pins.Pin("other", []meta.Piece{env.m.Pieces[4]}); err != nil {
		t.Fatal(err)
	}
	for _, pin := range []bool{true, false} {
		_, err := env.run(context.Background(), preheatRequest{Paths: []string{"d"}, Pin: pin}, func(preheatProgress) {})
		if !errors.Is(err, errNoRoom) || strings.Contains(err.Error(), "\x00") || !strings.Contains(err.Error(), "--disk-cache 12288 bytes") {
			t.Errorf("run with pin %v: %v, want errNoRoom naming the bound", pin, err)
		}
	}
	if pre.calls != 0 || len(pins.owners) != 1 {
		t.Errorf("preheat called %d times, pins %v; want nothing fetched or pinned", pre.calls, pins.owners)
	}
	// What fits does: d/e/f's 4096 beside c's.
	if _, err := env.run(context.Background(), preheatRequest{Paths: []string{"d/e"}, Pin: true}, func(preheatProgress) {}); err != nil || pre.calls != 1 {
		t.Errorf("preheat of d/e: %v, %d calls", err, pre.calls)
	}
	// The store's refusal (pins made meanwhile), in the command's words.
	perr := env.pinError(5*4096, fmt.Errorf("pin %q: over: %w", "origin\x00/x", store.ErrPinBudget))
	if !errors.Is(perr, store.ErrPinBudget) || strings.Contains(perr.Error(), "\x00") {
		t.Errorf("pinError: %v", perr)
	}
}

// TestControlSocket runs the control server on a real socket and talks to
// it as the commands do.
func TestControlSocket(t *testing.T) {
	env, pins, _ := newTestEnv(t, 0)
	dir := t.TempDir()
	sock := filepath.Join(dir, controlSocketName)
	log := logrus.New()
	log.SetOutput(&strings.Builder{})
	var statusPaths []string
	ctl := &controlServer{env: env, id: identity{Mountpoint: "/mnt/x"}, owner: os.Getuid(), log: log,
		status: func(ctx context.Context, paths []string) (statusReply, error) {
			statusPaths = paths
			var rep statusReply
			var err error
			rep.Files, rep.Dirs, err = env.filesStatus(ctx, paths)
			return rep, err
		}}
	if _, err := startControl(sock, ctl); err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	c := &mountClient{dir: "/mnt/x", socket: sock, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}}
	ctx := context.Background()
	var id identity
	if err := c.call(ctx, pathIdentity, nil, &id); err != nil || id.Mountpoint != "/mnt/x" {
		t.Fatalf("identity: %+v, %v", id, err)
	}
	ticks := 0
	sum, err := c.preheat(ctx, preheatRequest{Paths: []string{"d/e", "c"}, Pin: true}, func(preheatProgress) { ticks++ })
	if err != nil || sum.Fetched != 2*4096 || sum.Files != 2 || ticks == 0 {
		t.Fatalf("preheat: %+v, %v, %d ticks", sum, err, ticks)
	}
	if _, err := c.preheat(ctx, preheatRequest{Paths: []string{"nope"}}, func(preheatProgress) {}); err == nil || !strings.Contains(err.Error(), "/nope: no such file") {
		t.Errorf("preheat of a missing path: %v", err)
	}
	var rep statusReply
	if err := c.call(ctx, pathStatus, statusRequest{Paths: []string{"d"}}, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Files) != 3 || len(rep.Dirs) != 1 || rep.Dirs[0].Cached != 4096 || rep.Dirs[0].PinnedFiles != 1 || !reflect.DeepEqual(statusPaths, []string{"d"}) {
		t.Errorf("status of d: %+v", rep)
	}
	var un unpinReply
	if err := c.call(ctx, pathUnpin, unpinRequest{Paths: []string{"d"}}, &un); err != nil || un.Removed != 1 || len(pins.owners) != 1 {
		t.Errorf("unpin d: %+v, %v; owners left %v", un, err, pins.owners)
	}
	// The socket's peer is this process, root or the owner: allowed.
	// Other peers are refused.
	for _, tc := range []struct {
		cred *unix.Ucred
		want bool
	}{{nil, false}, {&unix.Ucred{Uid: 0}, true}, {&unix.Ucred{Uid: uint32(ctl.owner)}, true}, {&unix.Ucred{Uid: uint32(ctl.owner) + 1000}, ctl.owner+1000 == 0}} {
		if got := ctl.allows(tc.cred); got != tc.want {
			t.Errorf("allows(%+v) = %v, want %v", tc.cred, got, tc.want)
		}
	}
	ctl.owner = 12345 // as if another user had mounted: this process is root or not
	err = c.call(ctx, pathUnpin, unpinRequest{Paths: []string{"c"}}, &un)
	if os.Getuid() == 0 && err != nil {
		t.Errorf("unpin by root: %v", err)
	} else if os.Getuid() != 0 && (err == nil || !strings.Contains(err.Error(), "only root or the user who mounted")) {
		t.Errorf("unpin by uid %d on a mount of uid 12345: %v, want refused", os.Getuid(), err)
	}
	var st unix.Stat_t
	if err := unix.Stat(sock, &st); err != nil || st.Mode&0o777 != 0o666 {
		t.Errorf("socket mode %o, %v; want 0666 (requests are checked by uid)", st.Mode&0o777, err)
	}
}
