package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/piece"
	"github.com/piecefs/piecefs/store"
)

// pinStore is what preheat, unpin and status need of the disk tier;
// *store.Store has it.
type pinStore interface {
	Pin(owner string, pieces []meta.Piece) error
	PinCheck(owner string, pieces []meta.Piece) (int64, error)
	Unpin(owners ...string) (int, error)
	Pinned(d meta.Digest) bool
	Cached(p meta.Piece, off, n int64) int64
	Stats() store.Stats
}

// preheater fetches pieces into the tiers; *piece.Reader is one.
type preheater interface {
	Preheat(ctx context.Context, pieces []meta.Piece, o piece.PreheatOptions) piece.PreheatResult
}

// preheatEnv is what a preheat works on: one manifest of one origin, in
// one cache. The running mount has one; `preheat --cache` makes its own.
type preheatEnv struct {
	m      *meta.Manifest
	origin string // as pins name it: the origin URL without a trailing slash
	store  pinStore
	reader preheater
	memory int64 // bytes of fetched pieces that may go into the memory tier
}

// preheatRequest is what `piecefs preheat` asks for.
type preheatRequest struct {
	Paths []string `json:"paths"` // inside the tree; "" is the root
	Pin   bool     `json:"pin,omitempty"`
	Jobs  int      `json:"jobs,omitempty"`
}

// preheatProgress counts bytes of the distinct pieces of a preheat.
type preheatProgress struct {
	Total   int64 `json:"total"`
	Held    int64 `json:"held"` // cached before, no request
	Fetched int64 `json:"fetched"`
	Failed  int64 `json:"failed"`
}

// Settled is the bytes accounted for so far.
func (p preheatProgress) Settled() int64 { return p.Held + p.Fetched + p.Failed }

// preheatSummary is the outcome of a preheat.
type preheatSummary struct {
	preheatProgress
	Files       int          `json:"files"`
	Pieces      int          `json:"pieces"`
	PinnedBytes int64        `json:"pinnedBytes,omitempty"` // with Pin: all pinned bytes of the cache after it
	Seconds     float64      `json:"seconds"`
	FailedFiles []failedFile `json:"failedFiles,omitempty"`
}

// failedFile is a file some of whose pieces could not be fetched.
type failedFile struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// pinOwner is the name a pin of path (a manifest path) has in the store:
// the origin and the path, so that pins of one origin's tree never meet
// another's, and a re-pin after the publication changed replaces the old.
func (env preheatEnv) pinOwner(mp string) string {
	return env.origin + "\x00" + pinPath(mp)
}

// run preheats the files at or under req.Paths, calling tick with the
// progress about four times a second and once at the end. Pins are
// recorded before anything is fetched, after checking that they fit the
// disk bound with every other pin; an error is returned then, or for a
// path not in the tree. Pieces that could not be fetched are not an error:
// the summary names their files.
func (env preheatEnv) run(ctx context.Context, req preheatRequest, tick func(preheatProgress)) (preheatSummary, error) {
	start := time.Now()
	files, err := selectFiles(env.m, req.Paths)
	if err != nil {
		return preheatSummary{}, err
	}
	pieces := piecesOf(env.m, files)
	if err := env.fits(pieces); err != nil {
		return preheatSummary{}, err
	}
	if req.Pin {
		if err := env.pin(req.Paths, pieces); err != nil {
			return preheatSummary{}, err
		}
	}
	var (
		mu   sync.Mutex
		prog = preheatProgress{}
	)
	for _, p := range pieces {
		prog.Total += p.Size
	}
	snapshot := func() preheatProgress {
		mu.Lock()
		defer mu.Unlock()
		return prog
	}
	done := make(chan struct{})
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				tick(snapshot())
			}
		}
	}()
	res := env.reader.Preheat(ctx, pieces, piece.PreheatOptions{
		Jobs: req.Jobs, Memory: env.memory,
		Progress: func(p meta.Piece, fetched bool, err error) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				prog.Failed += p.Size
			case fetched:
				prog.Fetched += p.Size
			default:
				prog.Held += p.Size
			}
		},
	})
	close(done)
	<-ticked
	// The result has the last word: a piece fetched but not kept on disk
	// is a failure (piece.Reader.Preheat).
	final := preheatProgress{Total: prog.Total, Held: res.HeldBytes, Fetched: res.FetchedBytes}
	for _, p := range pieces {
		if res.Failed[p.Digest] != nil {
			final.Failed += p.Size
		}
	}
	tick(final)
	sum := preheatSummary{preheatProgress: final, Files: len(files), Pieces: len(pieces),
		Seconds: time.Since(start).Seconds(), FailedFiles: failedFiles(env.m, files, res.Failed)}
	if req.Pin {
		sum.PinnedBytes = env.store.Stats().PinnedBytes
	}
	return sum, nil
}

// errNoRoom is wrapped by the error of a preheat larger than the disk
// cache can hold.
var errNoRoom = errors.New("does not fit the disk cache")

// fits refuses, before anything is fetched, a preheat of more than the
// disk bound leaves beside the pins of other pieces: its last pieces would
// evict its first ones.
func (env preheatEnv) fits(pieces []meta.Piece) error {
	st := env.store.Stats()
	if st.MaxBytes == 0 {
		return nil
	}
	var total, pinnedHere int64
	for _, p := range pieces {
		total += p.Size
		if env.store.Pinned(p.Digest) {
			pinnedHere += p.Size
		}
	}
	room := st.MaxBytes - (st.PinnedBytes - pinnedHere)
	if total > room {
		return fmt.Errorf("%w: %s to preheat, but the disk cache's bound (--disk-cache %s) leaves room for %s beside %s pinned by other pins, and the last pieces fetched would evict the first; nothing was fetched or pinned: preheat less, unpin, or raise the bound",
			errNoRoom, formatBytes(total), formatBytes(st.MaxBytes), formatBytes(max(room, 0)), formatBytes(st.PinnedBytes-pinnedHere))
	}
	return nil
}

// pin records a pin for each path, after checking that all of them
// together fit the disk bound with the pins there are.
func (env preheatEnv) pin(paths []string, all []meta.Piece) error {
	// An owner no pin has: the check counts every new piece on top of the
	// existing pins, which over-counts a re-pin's old pieces only.
	if after, err := env.store.PinCheck(env.origin+"\x00\x00check", all); err != nil {
		return env.pinError(after, err)
	}
	for _, p := range paths {
		mp, err := manifestPath(p)
		if err != nil {
			return err
		}
		files, err := selectFiles(env.m, []string{p})
		if err != nil {
			return err
		}
		if err := env.store.Pin(env.pinOwner(mp), piecesOf(env.m, files)); err != nil {
			return fmt.Errorf("pin %s: %w", pinPath(mp), env.pinError(-1, err))
		}
	}
	return nil
}

// pinError says in the command's terms why pins were refused: after is
// the pinned bytes the pin would have left (-1: unknown). The store's
// message names its internal owner, so it is kept out; the error still
// wraps store.ErrPinBudget.
func (env preheatEnv) pinError(after int64, err error) error {
	if !errors.Is(err, store.ErrPinBudget) {
		return fmt.Errorf("pin: %w", err)
	}
	st := env.store.Stats()
	what := "these pins"
	if after >= 0 {
		what = formatBytes(after) + " pinned"
	}
	return fmt.Errorf("pin: %s would not fit the disk cache's bound (--disk-cache %s; %s pinned now): unpin something or raise the bound; nothing was fetched or pinned: %w",
		what, formatBytes(st.MaxBytes), formatBytes(st.PinnedBytes), store.ErrPinBudget)
}

// unpin removes the pins made at or below each path. A path need not be
// in the tree any more: a pin outlives the file it was made for when the
// publication changes.
func (env preheatEnv) unpin(paths []string) (int, error) {
	owners := make([]string, 0, len(paths))
	for _, p := range paths {
		mp, err := manifestPath(p)
		if err != nil {
			return 0, err
		}
		owners = append(owners, env.pinOwner(mp))
	}
	return env.store.Unpin(owners...)
}

// failedFiles names the files that have a failed piece, with one of the
// errors, in path order.
func failedFiles(m *meta.Manifest, files []treeFile, failed map[meta.Digest]error) []failedFile {
	if len(failed) == 0 {
		return nil
	}
	var out []failedFile
	var slices []meta.Slice
	for _, f := range files {
		slices = m.AppendSlices(slices[:0], f.Entry, 0, f.Entry.Size)
		for _, s := range slices {
			if err := failed[s.Piece.Digest]; err != nil {
				out = append(out, failedFile{Path: pinPath(f.Path), Error: err.Error()})
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// errPreheatFailed is returned by the preheat command when files could not
// be fetched; the files are listed before it.
var errPreheatFailed = errors.New("some files could not be preheated")

// summaryLine is the one line a preheat ends with.
func (s preheatSummary) summaryLine() string {
	var b strings.Builder
	fmt.Fprintf(&b, "preheated %s (%s, %s): fetched %s, %s already cached, in %s",
		plural(s.Files, "file"), plural(s.Pieces, "piece"), formatBytes(s.Total), formatBytes(s.Fetched), formatBytes(s.Held),
		time.Duration(s.Seconds*float64(time.Second)).Round(time.Millisecond))
	if s.Failed > 0 {
		fmt.Fprintf(&b, "; %s failed, in %s", formatBytes(s.Failed), plural(len(s.FailedFiles), "file"))
	}
	if s.PinnedBytes > 0 {
		fmt.Fprintf(&b, "; %s pinned in the cache", formatBytes(s.PinnedBytes))
	}
	return b.String()
}

// plural is "1 file", "2 files", "2 entries".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if stem, ok := strings.CutSuffix(noun, "y"); ok {
		return fmt.Sprintf("%d %sies", n, stem)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
