package e2e

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/origin"
)

// loggingOrigin serves a publish output and keeps the path of every GET
// under /pieces/, in the order they arrived.
type loggingOrigin struct {
	srv   *httptest.Server
	files http.Handler

	mu   sync.Mutex // guards gets
	gets []string
}

func newLoggingOrigin(t *testing.T, dir string) *loggingOrigin {
	o := &loggingOrigin{files: http.FileServer(http.Dir(dir))}
	o.srv = httptest.NewServer(o)
	t.Cleanup(o.srv.Close)
	return o
}

func (o *loggingOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/pieces/") {
		o.mu.Lock()
		o.gets = append(o.gets, r.URL.Path)
		o.mu.Unlock()
	}
	o.files.ServeHTTP(w, r)
}

// Gets returns the piece GETs so far, in order.
func (o *loggingOrigin) Gets() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.gets)
}

// TestPrefetchRecordPublishReplay: a mount with --record writes the files
// read in the order they were read; a publication with that list, mounted
// cold, fetches exactly those files' pieces first, in that order, in the
// background, and reading them then costs no request. A list whose bytes
// do not match its digest, or that does not decode, is refused and the
// mount works without it.
func TestPrefetchRecordPublishReplay(t *testing.T) {
	requireFUSE(t)
	src, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	// Files of at least the piece size have pieces of their own; the
	// manifest numbers them a, b, c, d.
	sizes := map[string]int{"a.bin": 2<<20 + 100<<10, "b.bin": 1 << 20, "c.bin": 3<<20 - 5, "d.bin": 2 << 20}
	content := map[string][]byte{}
	for name, size := range sizes {
		content[name] = make([]byte, size)
		_, _ = rand.Read(content[name])
		if err := os.WriteFile(filepath.Join(src, name), content[name], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := publish(fx.bin, src, out, "--piece-size", "1MiB", "--tag", "plain"); err != nil {
		t.Fatal(err)
	}
	readOrder := []string{"c.bin", "a.bin", "b.bin"}

	// Record.
	rec := filepath.Join(t.TempDir(), "start.json")
	m := startMount(t, startServeOrigin(t, out), t.TempDir(), "--tag", "plain", "--record", rec)
	readAll(t, m.dir, readOrder, content)
	m.Stop(t)
	l := readRecord(t, rec)
	// Each file was read whole before the next: a range each, whatever
	// order the kernel's reads of one file arrived in.
	var want []meta.PrefetchRange
	for _, name := range readOrder {
		want = append(want, meta.PrefetchRange{Path: name, Offset: 0, Length: int64(sizes[name])})
	}
	if !slices.Equal(l.Ranges, want) {
		t.Fatalf("the record lists\n%+v, want\n%+v", l.Ranges, want)
	}

	// Publish with it, mount cold, wait for the replay.
	d, err := publish(fx.bin, src, out, "--piece-size", "1MiB", "--tag", "pf", "--prefetch", rec)
	if err != nil {
		t.Fatal(err)
	}
	man := readPublished(t, out, d)
	if man.Prefetch == nil {
		t.Fatal("the manifest names no prefetch list")
	}
	pieces := pfRecordedPieces(man, l)
	o := newLoggingOrigin(t, out)
	// 4 MiB a second: half a MiB at a time, so that requests start a
	// quarter of a second apart and arrive in the order they were sent.
	cache := t.TempDir()
	m = startMount(t, o.srv.URL, cache, "--tag", "pf", "--prefetch-rate", "4MiB")
	waitStderr(t, m, "prefetch done", 30*time.Second)
	list := "/" + meta.PiecePath(man.Prefetch.Digest)
	got := slices.DeleteFunc(o.Gets(), func(p string) bool { return p == list })
	if !slices.Equal(got, pieces) {
		t.Errorf("the replay fetched\n%v, want the recorded files' pieces in the order read, once each\n%v", got, pieces)
	}
	before := len(o.Gets())
	readAll(t, m.dir, readOrder, content)
	for _, p := range o.Gets()[before:] {
		if slices.Contains(pieces, p) {
			t.Errorf("reading the prefetched files fetched %s again", p)
		}
	}
	m.Stop(t)

	// A remount with the origin gone finds the list and its ranges in the
	// cache: the replay fetches nothing.
	o.srv.Close()
	m = startMount(t, o.srv.URL, cache, "--digest", d)
	waitStderr(t, m, "prefetch done", 30*time.Second)
	if !bytes.Contains(m.Stderr(), []byte("fetches=0 ")) {
		t.Errorf("the replay of a remount fetched something:\n%s", m.stderrTail())
	}
	m.Stop(t)

	// A list whose bytes do not hash to its name, and one that does not
	// decode: refused, and the mount works.
	for name, body := range map[string][]byte{
		"wrong digest": nil,
		"bad list":     []byte(`{"format":"piecefs-prefetch","version":1,"ranges":[{"path":"../../etc/passwd","offset":0,"length":1}]}`),
	} {
		t.Run(name, func(t *testing.T) {
			tag := hostilePrefetch(t, out, man, body)
			m := startMount(t, startServeOrigin(t, out), t.TempDir(), "--tag", tag, "--attempts", "1")
			waitStderr(t, m, "mounted without prefetch", 30*time.Second)
			readAll(t, m.dir, []string{"d.bin"}, content)
			m.Stop(t)
		})
	}
}

// readAll reads the files named, in order, and compares them with content.
func readAll(t *testing.T, dir string, names []string, content map[string][]byte) {
	t.Helper()
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(b, content[name]) {
			t.Fatalf("read %s: %v, or other bytes", name, err)
		}
	}
}

func readRecord(t *testing.T, path string) *meta.PrefetchList {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the record: %v", err)
	}
	l, err := meta.DecodePrefetch(b)
	if err != nil {
		t.Fatalf("the record: %v\n%s", err, b)
	}
	return l
}

// pfRecordedPieces returns the URL paths of the pieces that hold l's ranges,
// in l's order, each once.
func pfRecordedPieces(m *meta.Manifest, l *meta.PrefetchList) []string {
	var paths []string
	for _, s := range m.AppendPrefetchSlices(nil, l) {
		if p := "/" + meta.PiecePath(s.Piece.Digest); !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	return paths
}

// hostilePrefetch publishes under a new tag the manifest m with a prefetch
// list of body (stored under its own digest), or, for a nil body, m's
// list with its bytes flipped in place under a copy's name, and returns
// the tag.
func hostilePrefetch(t *testing.T, out string, m *meta.Manifest, body []byte) string {
	t.Helper()
	dir, err := origin.OpenDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		good, err := os.ReadFile(filepath.Join(out, meta.PiecePath(m.Prefetch.Digest)))
		if err != nil {
			t.Fatal(err)
		}
		// A name no bytes hash to: the good bytes, one flipped, under the
		// digest of the good bytes with a prefix.
		body = append([]byte(nil), good...)
		body[len(body)/2] ^= 0xff
		d := meta.Sum(append([]byte("not "), good...))
		p := filepath.Join(out, meta.PiecePath(d))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		m.Prefetch = &meta.ObjectRef{Digest: d, Size: int64(len(body))}
	} else {
		d := meta.Sum(body)
		if err := dir.PutPiece(d, body); err != nil {
			t.Fatal(err)
		}
		m.Prefetch = &meta.ObjectRef{Digest: d, Size: int64(len(body))}
	}
	enc, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	md, err := dir.PutManifest(enc)
	if err != nil {
		t.Fatal(err)
	}
	tag := "hostile-" + md.Hex()[:8]
	if err := dir.SetTag(tag, md); err != nil {
		t.Fatal(err)
	}
	return tag
}

// waitStderr waits until the mount's stderr holds s.
func waitStderr(t *testing.T, m *mount, s string, limit time.Duration) {
	t.Helper()
	for end := time.Now().Add(limit); !bytes.Contains(m.Stderr(), []byte(s)); {
		if time.Now().After(end) || m.exited() {
			t.Fatalf("the mount did not log %q in %v\nstderr: %s", s, limit, m.stderrTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
