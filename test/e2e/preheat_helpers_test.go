package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
	"github.com/piecefs/piecefs/meta"
)

// The helpers of the preheat, pin, status and progress tests (issue 9):
// running the commands and reading what they print, a mount's status and
// metrics, and an origin that fails chosen pieces, goes down and comes
// back at the same address, and sends bodies slowly.

// phTimeout bounds one preheat, unpin or status command.
const phTimeout = 2 * time.Minute

// phResult is one run of a piecefs command that is not a mount.
type phResult struct {
	args           []string
	stdout, stderr string
	code           int // -1: killed
	timedOut       bool
	elapsed        time.Duration
}

func (r phResult) String() string {
	return fmt.Sprintf("piecefs %s: status %d (timed out: %v, %v)\nstdout: %s\nstderr: %s",
		strings.Join(r.args, " "), r.code, r.timedOut, r.elapsed.Round(time.Millisecond), tail([]byte(r.stdout)), tail([]byte(r.stderr)))
}

// phRun runs piecefs with args, without a terminal, and waits for it.
func phRun(t *testing.T, args ...string) phResult {
	t.Helper()
	o := runTool(phTimeout, "", fx.bin, args...)
	r := phResult{args: args, stdout: string(o.stdout), stderr: string(o.stderr), code: harness.ExitCode(o.err),
		timedOut: o.timedOut, elapsed: o.elapsed}
	if r.timedOut {
		t.Fatalf("still running after %v: %s", phTimeout, r)
	}
	return r
}

// phMustRun is phRun of a command that must exit 0.
func phMustRun(t *testing.T, args ...string) phResult {
	t.Helper()
	r := phRun(t, args...)
	if r.code != 0 {
		t.Fatalf("want status 0: %s", r)
	}
	return r
}

// phSummaryLine is preheat's summary: "preheated N files (P pieces,
// TOTAL): fetched X, Y already cached, in T", then "; ..." clauses.
var phSummaryLine = regexp.MustCompile(`^preheated ([0-9]+) files? \(([0-9]+) pieces?, ([^)]+)\): fetched ([^,]+), ([^,]+) already cached, in ([0-9.]+[a-zµ]+)(; .*)?$`)

// phSummary is a summary line, parsed.
type phSummary struct {
	files, pieces          int
	total, fetched, held   string // as printed: "9.0 MiB", "0 bytes"
	elapsed, rest, rawLine string
}

// phParseSummary finds the summary line, which must be the last line of
// stdout, and parses it.
func phParseSummary(t *testing.T, r phResult) phSummary {
	t.Helper()
	ls := lines([]byte(r.stdout))
	if len(ls) == 0 {
		t.Fatalf("no summary line on stdout: %s", r)
	}
	m := phSummaryLine.FindStringSubmatch(ls[len(ls)-1])
	if m == nil {
		t.Fatalf("last line of stdout %q is not a summary %q: %s", ls[len(ls)-1], phSummaryLine, r)
	}
	s := phSummary{total: m[3], fetched: m[4], held: m[5], elapsed: m[6], rest: m[7], rawLine: m[0]}
	s.files, _ = strconv.Atoi(m[1])
	s.pieces, _ = strconv.Atoi(m[2])
	return s
}

// phJSONSummary is what preheat --json prints.
type phJSONSummary struct {
	Total, Held, Fetched, Failed int64
	Files, Pieces                int
	PinnedBytes                  int64 `json:"pinnedBytes"`
	Seconds                      float64
	FailedFiles                  []struct{ Path, Error string } `json:"failedFiles"`
}

// phDecodeSummary decodes the stdout of preheat --json.
func phDecodeSummary(t *testing.T, r phResult) phJSONSummary {
	t.Helper()
	var s phJSONSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("preheat --json: %v: %s", err, r)
	}
	return s
}

// phStatus is what status --json prints.
type phStatus struct {
	Files []phFileStatus `json:"files"`
	Dirs  []struct {
		Path        string
		Files       int
		Size        int64
		Cached      int64
		PinnedFiles int `json:"pinnedFiles"`
	} `json:"dirs"`
	Mount struct {
		Mountpoint, Manifest, Origin string
		Memory                       struct {
			Bytes, Limit int64
			Entries      int
		}
		Disk struct {
			Bytes, Limit int64
			Entries      int
			Partial      int
			PinnedBytes  int64 `json:"pinnedBytes"`
			PinnedPieces int   `json:"pinnedPieces"`
			Pins         int
			Evictions    int64
		}
		Fetch struct {
			Pieces, Ranges, Bytes, Requests, Retries int64
			VerifyFailures                           int64 `json:"verifyFailures"`
			InFlight                                 int64 `json:"inFlight"`
		}
	} `json:"mount"`
}

// phFileStatus is one file of a status answer; Path is "/a/b".
type phFileStatus struct {
	Path   string
	Size   int64
	Cached int64
	Pinned bool
}

// phStatusOf runs status --json on paths (inside a mount) and decodes it.
func phStatusOf(t *testing.T, paths ...string) phStatus {
	t.Helper()
	r := phMustRun(t, append([]string{"status", "--json"}, paths...)...)
	var st phStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status --json does not parse: %v: %s", err, r)
	}
	return st
}

// file returns the status of rel (relative to the root, no leading slash).
func (s phStatus) file(t *testing.T, rel string) phFileStatus {
	t.Helper()
	for _, f := range s.Files {
		if f.Path == "/"+rel {
			return f
		}
	}
	t.Fatalf("status has no file /%s", rel)
	return phFileStatus{}
}

// phFilesUnder returns the regular files of the shared tree at or under
// each directory ("" is the root), sorted: what a preheat of those
// directories selects, hardlinks aside.
func phFilesUnder(dirs ...string) []string {
	var out []string
	for p := range fx.tree.hashes {
		for _, d := range dirs {
			if d == "" || p == d || strings.HasPrefix(p, d+"/") {
				out = append(out, p)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// phPieces returns the pieces that hold the bytes of files.
func phPieces(t *testing.T, m *meta.Manifest, files []string) map[meta.Digest]meta.Piece {
	t.Helper()
	out := map[meta.Digest]meta.Piece{}
	for _, f := range files {
		for _, s := range fileSpans(t, m, f) {
			out[s.piece.Digest] = s.piece
		}
	}
	return out
}

// phBytes sums the sizes of pieces.
func phBytes(pieces map[meta.Digest]meta.Piece) int64 {
	var n int64
	for _, p := range pieces {
		n += p.Size
	}
	return n
}

// phOutsider returns a small file of the shared tree none of whose pieces
// is in held: a read of it needs the origin.
func phOutsider(t *testing.T, m *meta.Manifest, held map[meta.Digest]meta.Piece) string {
	t.Helper()
	for _, f := range fx.tree.small {
		shared := false
		for _, s := range fileSpans(t, m, f) {
			shared = shared || held[s.piece.Digest].Size > 0
		}
		if !shared {
			return f
		}
	}
	t.Fatal("every small file shares a piece with the preheated ones")
	return ""
}

// phGetfattr returns the value of attribute name of path, as getfattr
// prints it.
func phGetfattr(t *testing.T, path, name string) string {
	t.Helper()
	return string(mustRun(t, "", "getfattr", "-n", name, "--only-values", "--", path))
}

// phFreeAddr returns a free address on 127.0.0.1.
func phFreeAddr(t *testing.T) string {
	t.Helper()
	ports, err := harness.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0])
}

// phScrape reads a Prometheus text exposition from url: series (name and
// labels as printed) → value.
func phScrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			t.Fatalf("scrape %s: line %q", url, l)
		}
		v, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape %s: line %q: %v", url, l, err)
		}
		out[l[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return out
}

// phOrigin serves a publish output on 127.0.0.1 and counts the piece GETs.
// It can fail chosen pieces (500, or bytes that do not verify), send piece
// bodies slowly, and go down (every connection dropped unanswered) and
// come back at the same address, which a remount with the same origin URL,
// and so the same pins, needs.
type phOrigin struct {
	srv   *httptest.Server
	dir   string
	files http.Handler

	gets atomic.Int64 // piece GETs
	down atomic.Bool
	pace atomic.Int64 // see SetPace

	mu     sync.Mutex         // guards faults
	faults map[string]phFault // by piece URL path

	stopOnce sync.Once
}

// phFault is what the origin does to a piece.
type phFault int

const (
	phFail500   phFault = iota + 1 // answer 500 Internal Server Error
	phWrongData                    // serve bytes that do not verify, at the right length
)

// newPhOrigin starts an origin for dir; it stops when the test ends.
func newPhOrigin(t *testing.T, dir string) *phOrigin {
	o := &phOrigin{dir: dir, files: http.FileServer(http.Dir(dir)), faults: map[string]phFault{}}
	o.srv = httptest.NewServer(o) // on 127.0.0.1
	t.Cleanup(o.Stop)
	return o
}

// URL is the origin's base URL.
func (o *phOrigin) URL() string { return o.srv.URL }

// PieceGets is the number of piece GETs so far, down or not.
func (o *phOrigin) PieceGets() int64 { return o.gets.Load() }

// Fail makes the origin answer every GET of piece d with fault f.
func (o *phOrigin) Fail(d meta.Digest, f phFault) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.faults[phPieceURL(d)] = f
}

// SetPace makes later piece bodies go out in blkPaceChunk chunks, d apart.
func (o *phOrigin) SetPace(d time.Duration) { o.pace.Store(int64(d)) }

// SetDown takes the origin down (every open connection closed, every later
// request dropped unanswered) or brings it back.
func (o *phOrigin) SetDown(down bool) {
	o.down.Store(down)
	if down {
		o.srv.CloseClientConnections()
	}
}

// Stop closes the server for good. Safe to call twice.
func (o *phOrigin) Stop() {
	o.stopOnce.Do(func() {
		o.srv.CloseClientConnections()
		o.srv.Close()
	})
}

func (o *phOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	isPiece := r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/pieces/")
	if isPiece {
		o.gets.Add(1)
	}
	if o.down.Load() {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if !isPiece {
		o.files.ServeHTTP(w, r)
		return
	}
	o.mu.Lock()
	fault := o.faults[r.URL.Path]
	o.mu.Unlock()
	// blkWriter paces the body (blkorigin_test.go).
	sw := &blkWriter{ResponseWriter: w, r: r, pace: time.Duration(o.pace.Load())}
	switch fault {
	case phFail500:
		http.Error(w, "injected failure", http.StatusInternalServerError)
	case phWrongData:
		f, err := os.Open(filepath.Join(o.dir, filepath.FromSlash(filepath.Clean(r.URL.Path))))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		defer f.Close()
		http.ServeContent(sw, r, "", time.Time{}, blkGarbage{f}) // every byte XORed
	default:
		o.files.ServeHTTP(sw, r)
	}
}

// phPieceURL is the URL path of a piece at the origin.
func phPieceURL(d meta.Digest) string { return "/" + meta.PiecePath(d) }

// phQuiet waits until count stops changing for half a second: the
// readahead a read started has settled.
func phQuiet(t *testing.T, count func() int64) {
	t.Helper()
	waitFor(t, 30*time.Second, "the origin to go quiet", func() bool {
		n := count()
		time.Sleep(500 * time.Millisecond)
		return count() == n
	})
}

// phCompareHashes is compareHashes that stops the test at once if the
// first few files do not read right, rather than reading hundreds of
// files that fail one by one after the fetch timeout.
func phCompareHashes(t *testing.T, mnt string, files []string) {
	t.Helper()
	sample := files[:min(3, len(files))]
	got := sha256sums(t, mnt, sample...) // fatal if a read fails
	for _, p := range sample {
		if got[p] != fx.tree.hashes[p] {
			t.Fatalf("sha256 of %s: got %q, want %s", p, got[p], fx.tree.hashes[p])
		}
	}
	compareHashes(t, mnt, files)
}

// phCheckPinError checks, in a subtest of its own, the words of a pin
// refused for the bound: they are for a person, so they must not show how
// the store names pins inside (origin, NUL, path).
func phCheckPinError(t *testing.T, r phResult) {
	t.Helper()
	t.Run("pin-error-words", func(t *testing.T) {
		if strings.Contains(r.stderr, `\x00`) {
			t.Errorf("the error of a pin over the bound shows the store's internal pin owner (origin\\x00path): %q", strings.TrimSpace(r.stderr))
		}
	})
}
