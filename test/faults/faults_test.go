package faults

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/piecefs/piecefs/fetch"
	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/store"
)

const (
	// fetchTimeout bounds every fetch in the fault table, retries included.
	fetchTimeout = time.Second
	// slack is added to fetchTimeout before a read counts as hung.
	slack = 3 * time.Second
)

// outcome is what a read under a fault must end in.
type outcome int

const (
	fails  outcome = iota // an error; the bytes read before it are right
	works                 // exactly the right bytes
	either                // either of the above; the other checks still hold
)

func (o outcome) String() string { return [...]string{"fails", "works", "either"}[o] }

// faultCase is one row of the fault table.
type faultCase struct {
	name  string
	fault fault
	first int    // if > 0, only the first that many requests get the fault
	file  string // whose piece gets the fault; "" means bigFile
	down  bool   // the fetcher's origin is a port nothing listens on
	want  outcome
	// For a read that fails: the error it must wrap (nil: any), or the
	// status of the *fetch.StatusError it must wrap.
	wantErr    error
	wantStatus int
	// hits is the number of requests for the piece the fault must draw; 0
	// means not checked (the transport may resend a request on its own when
	// a reused connection dies).
	hits int
}

// faultTable returns the faults; dead is the base URL of a port nothing
// listens on.
func faultTable(dead string) []faultCase {
	const attempts = 4 // as wired by openChain
	return []faultCase{
		{name: "connection refused: origin down", down: true, want: fails, wantErr: syscall.ECONNREFUSED},
		{name: "connection refused: piece redirected to a dead port", fault: redirectTo(dead), want: fails, wantErr: syscall.ECONNREFUSED, hits: attempts},
		{name: "stall before headers", fault: stallHeaders, want: fails, wantErr: context.DeadlineExceeded},
		{name: "stall mid-body", fault: stallBody, want: fails, wantErr: context.DeadlineExceeded},
		{name: "slow drip 1 byte per second", fault: drip, want: fails, wantErr: context.DeadlineExceeded},
		{name: "connection reset mid-body", fault: resetBody, want: fails},
		{name: "connection closed before answering", fault: hangUp, want: fails},
		{name: "short body, connection closed", fault: shortBody, want: fails, wantErr: fetch.ErrShortBody, hits: attempts},
		{name: "body longer than the piece", fault: longBody, want: fails, wantErr: fetch.ErrLongBody, hits: attempts},
		{name: "unrequested response after the body", fault: smuggle, want: works, hits: 1},
		{name: "wrong bytes, same length", fault: corrupt, want: fails, wantErr: fetch.ErrCorrupt, hits: attempts},
		{name: "404", fault: status(http.StatusNotFound), want: fails, wantStatus: http.StatusNotFound, hits: 1},
		{name: "500", fault: status(http.StatusInternalServerError), want: fails, wantStatus: http.StatusInternalServerError, hits: attempts},
		{name: "503", fault: status(http.StatusServiceUnavailable), want: fails, wantStatus: http.StatusServiceUnavailable, hits: attempts},
		{name: "503 with Retry-After 3600", fault: status(http.StatusServiceUnavailable, "Retry-After", "3600"), want: fails, wantStatus: http.StatusServiceUnavailable, hits: attempts},
		{name: "206 to a request without Range", fault: partial, want: fails, wantStatus: http.StatusPartialContent, hits: 1},
		{name: "redirect loop", fault: redirectLoop, want: fails, wantErr: fetch.ErrTooManyRedirects, hits: 10},
		{name: "Content-Length larger than the body", fault: wrongLength(+100), want: fails, wantErr: fetch.ErrLength, hits: attempts},
		{name: "Content-Length smaller than the body", fault: wrongLength(-100), want: fails, wantErr: fetch.ErrLength, hits: attempts},

		{name: "first 2 refused, then correct", fault: redirectTo(dead), first: 2, want: works, hits: 3},
		{name: "first 2 reset mid-body, then correct", fault: resetBody, first: 2, want: works},
		{name: "first 2 closed before answering, then correct", fault: hangUp, first: 2, want: works},
		{name: "first 2 short, then correct", fault: shortBody, first: 2, want: works, hits: 3},
		{name: "first 2 too long, then correct", fault: longBody, first: 2, want: works, hits: 3},
		{name: "first 2 wrong bytes, then correct", fault: corrupt, first: 2, want: works, hits: 3},
		{name: "first 2 wrong Content-Length, then correct", fault: wrongLength(+100), first: 2, want: works, hits: 3},
		{name: "first 2 500, then correct", fault: status(http.StatusInternalServerError), first: 2, want: works, hits: 3},
		{name: "first 3 503 with Retry-After, then correct", fault: status(http.StatusServiceUnavailable, "Retry-After", "3600"), first: 3, want: works, hits: 4},
		// One stalled attempt uses up the whole Timeout, which bounds the
		// retries too: there is no per-attempt deadline to retry after.
		{name: "first 1 stalls before headers, then correct", fault: stallHeaders, first: 1, want: either},

		{name: "packed small file: wrong bytes", file: smallFile, fault: corrupt, want: fails, wantErr: fetch.ErrCorrupt, hits: attempts},
		{name: "packed small file: stall mid-body", file: smallFile, fault: stallBody, want: fails, wantErr: context.DeadlineExceeded},
		{name: "packed small file: first 1 reset, then correct", file: smallFile, fault: resetBody, first: 1, want: works},
	}
}

func TestFaults(t *testing.T) {
	tr := publish(t)
	dead := deadURL(t)
	for _, tc := range faultTable(dead) {
		t.Run(tc.name, func(t *testing.T) { runFaultCase(t, tr, dead, tc) })
	}
}

// faultRun is one row of the table being run: the origin with the fault,
// the cache directory, and the range of the file the read covers.
type faultRun struct {
	tc     faultCase
	tr     *tree
	o      *faultyOrigin
	dir    string     // cache directory
	file   string     // the file read
	p      meta.Piece // the piece with the fault
	off    int64
	n      int
	result readResult
}

// runFaultCase reads the faulted range through a fresh chain and checks
// everything a fault must leave true (see the package documentation).
func runFaultCase(t *testing.T, tr *tree, dead string, tc faultCase) {
	base := snapshot(t)
	r := &faultRun{tc: tc, tr: tr, o: newFaultyOrigin(t, tr), dir: t.TempDir(), file: cmp.Or(tc.file, bigFile)}
	r.p, r.off, r.n = tr.faultRange(t, r.file)
	r.o.inject(r.p.Digest, tc.fault, tc.first)
	url := r.o.URL()
	if tc.down {
		url = dead
	}
	c := openChain(t, r.dir, url, tr.m, chainOptions{timeout: fetchTimeout, memory: 8 << 20})
	r.readFaulted(t, c)
	c.closeFetcher(t) // waits for pieces being written
	r.checkFiles(t)
	c.closeStore(t)
	st := r.checkCache(t)
	if tc.down {
		st.Close()
	} else {
		checkRecovers(t, tr, r.o, st, r.dir, r.file, r.off, r.n)
	}
	r.o.close()
	got := base.checkSettles(t)
	t.Logf("goroutines %d → %d, fds %d → %d", base.goroutines, got.goroutines, base.fds, got.fds)
}

// readFaulted reads the range through c and checks what the read returned.
func (r *faultRun) readFaulted(t *testing.T, c *chain) {
	t.Helper()
	start := time.Now()
	r.result = readAt(t, c.r, r.tr.entry(t, r.file), r.off, r.n, fetchTimeout+slack)
	took := time.Since(start)
	checkRead(t, r.result, r.tr.files[r.file][r.off:r.off+int64(r.n)])
	checkOutcome(t, r.tc, r.result)
	hits := r.o.hitsOf(r.p.Digest)
	if r.tc.hits != 0 && hits != r.tc.hits {
		t.Errorf("requests for the faulted piece: got %d, want %d", hits, r.tc.hits)
	}
	t.Logf("outcome: %d of %d bytes in %v, %d requests for the piece, err: %v",
		r.result.n, r.n, took.Round(time.Millisecond), hits, r.result.err)
}

// checkFiles checks the cache directory once the fetcher is closed: no
// .part file, every piece file right, and a file for the faulted piece only
// if the read succeeded.
func (r *faultRun) checkFiles(t *testing.T) {
	t.Helper()
	checkNoParts(t, r.dir)
	if got, want := checkPieceFiles(t, r.dir)[r.p.Digest], r.result.err == nil; got != want {
		t.Errorf("faulted piece has a file in the cache: got %v, want %v (the read's error: %v)", got, want, r.result.err)
	}
}

// checkCache reopens the cache directory, as the next mount would, checks
// that the faulted piece is recorded complete only if the read succeeded,
// and returns the open store.
func (r *faultRun) checkCache(t *testing.T) *store.Store {
	t.Helper()
	st := reopen(t, r.dir)
	if got, want := st.Has(r.p.Digest), r.result.err == nil; got != want {
		t.Errorf("faulted piece recorded complete after reopen: got %v, want %v", got, want)
	}
	return st
}

// checkRead fails the test if the read returned a byte that is not the
// file's: all of them on success, the ones before the error otherwise.
func checkRead(t *testing.T, res readResult, want []byte) {
	t.Helper()
	switch {
	case res.n < 0 || res.n > len(want):
		t.Errorf("ReadAt returned n = %d for a read of %d bytes", res.n, len(want))
	case !bytes.Equal(res.p[:res.n], want[:res.n]):
		t.Errorf("ReadAt returned wrong bytes among the first %d (first difference at %d)", res.n, firstDiff(res.p, want))
	case res.err == nil && res.n != len(want):
		t.Errorf("ReadAt returned %d of %d bytes without an error", res.n, len(want))
	case res.err != nil && res.n == len(want):
		t.Errorf("ReadAt returned all %d bytes and the error %v", res.n, res.err)
	}
}

func checkOutcome(t *testing.T, tc faultCase, res readResult) {
	t.Helper()
	switch {
	case tc.want == works && res.err != nil:
		t.Errorf("ReadAt: %v, want the file's bytes", res.err)
	case tc.want == fails && res.err == nil:
		t.Errorf("ReadAt returned the file's bytes, want an error")
	case tc.want == fails && tc.wantErr != nil && !errors.Is(res.err, tc.wantErr):
		t.Errorf("ReadAt: got %v, want an error wrapping %v", res.err, tc.wantErr)
	case tc.want == fails && tc.wantStatus != 0 && statusOf(res.err) != tc.wantStatus:
		t.Errorf("ReadAt: got %v, want a StatusError %d", res.err, tc.wantStatus)
	}
}

func statusOf(err error) int {
	var se *fetch.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// checkRecovers clears the fault and reads the range again through a new
// fetcher over the reopened store st (which it closes): a failed fetch must
// not poison the piece, nor leave a file or a claim that blocks the next.
func checkRecovers(t *testing.T, tr *tree, o *faultyOrigin, st *store.Store, dir, file string, off int64, n int) {
	t.Helper()
	o.clear()
	c := wireChain(t, st, o.URL(), tr.m, chainOptions{timeout: fetchTimeout, memory: 8 << 20})
	res := readAt(t, c.r, tr.entry(t, file), off, n, fetchTimeout+slack)
	if res.err != nil {
		t.Errorf("ReadAt once the fault is gone: %v", res.err)
	}
	checkRead(t, res, tr.files[file][off:off+int64(n)])
	c.closeFetcher(t)
	checkNoParts(t, dir)
	checkPieceFiles(t, dir)
	c.closeStore(t)
}
