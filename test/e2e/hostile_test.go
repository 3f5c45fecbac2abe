package e2e

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
)

// TestHostileManifestRefused mounts manifests that a lying publisher could
// serve with valid digests: each is refused at mount with an error that
// says what is wrong, and nothing is mounted.
func TestHostileManifestRefused(t *testing.T) {
	a, b := hostileBytes(1, 4096), hostileBytes(2, 4096)
	da := meta.Sum(a)
	tests := []struct {
		name string
		doc  rawManifest
		want string
	}{
		{"one digest, two sizes", oneFileManifest(
			[]rawPiece{{da.String(), 4096}, {da.String(), 8192}},
			rawExtent{Piece: 1, Offset: 4000, Length: 200}), "one digest has one size"},
		{"one digest, two sizes, the smaller read", oneFileManifest(
			[]rawPiece{{da.String(), 8192}, {da.String(), 4096}},
			rawExtent{Piece: 1, Offset: 0, Length: 4096}), "one digest has one size"},
		{"extent past its piece", oneFileManifest(
			[]rawPiece{{da.String(), 4096}},
			rawExtent{Piece: 0, Offset: 4000, Length: 200}), "outside piece"},
		{"extent of a piece not listed", oneFileManifest(
			[]rawPiece{{da.String(), 4096}},
			rawExtent{Piece: 1, Offset: 0, Length: 10}), "does not exist"},
		{"extent offset overflowing", oneFileManifest(
			[]rawPiece{{da.String(), 4096}},
			rawExtent{Piece: 0, Offset: 1<<63 - 100, Length: 200}), "outside piece"},
		{"piece larger than the piece size", oneFileManifest(
			[]rawPiece{{da.String(), 2 << 20}},
			rawExtent{Piece: 0, Offset: 0, Length: 10}), "size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := newHostileOrigin(t)
			o.putPiece(da, a)
			o.putPiece(meta.Sum(b), b)
			d := o.putManifest(t, tc.doc)
			stderr := mountFails(t, o.URL(), t.TempDir())
			if !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, d.Hex()) {
				t.Errorf("the error does not name the manifest %s and say %q:\n%s", d, tc.want, stderr)
			}
		})
	}
}

// TestSizeLieAcrossOrigins fills a cache with a piece from one origin, then
// mounts another origin whose manifest names the same digest with another
// size: no read of that file succeeds, whatever its range, and nothing in
// the mount panics. Before, the bytes cached for the first origin were
// served under the second's size, padded with stale bytes of the FUSE reply
// buffer.
func TestSizeLieAcrossOrigins(t *testing.T) {
	real := hostileBytes(3, 4096)
	d := meta.Sum(real)
	cache := t.TempDir()

	honest := newHostileOrigin(t)
	honest.putPiece(d, real)
	honest.putManifest(t, oneFileManifest([]rawPiece{{d.String(), 4096}}, rawExtent{Piece: 0, Offset: 0, Length: 4096}))
	m := startMount(t, honest.URL(), cache)
	if got := mustRun(t, "", "cat", filepath.Join(m.dir, "f")); !bytes.Equal(got, real) {
		t.Fatalf("the honest origin's file reads %d other bytes", len(got))
	}
	m.Stop(t)

	for _, lie := range []int64{8192, 2048, 4095} {
		liar := newHostileOrigin(t)
		// The liar has the real bytes too: only the size is a lie, and a
		// range inside the real bytes must fail as well.
		liar.putPiece(d, real)
		liar.putManifest(t, oneFileManifest([]rawPiece{{d.String(), lie}}, rawExtent{Piece: 0, Offset: 0, Length: lie}))
		m := startMount(t, liar.URL(), cache)
		f := filepath.Join(m.dir, "f")
		mustFail(t, fetchTimeout+20*time.Second, eioText, "cat", f)
		for _, r := range [][2]int64{{4000, 200}, {0, 100}, {lie - 1, 1}, {5000, 100}} {
			if r[0] >= lie {
				continue
			}
			expectEIOAt(t, f, r[0], r[1])
		}
		m.Stop(t)
		if bytes.Contains(m.Stderr(), []byte("panic")) {
			t.Errorf("a read of a piece named with size %d panicked:\n%s", lie, m.stderrTail())
		}
	}
	if got, ok := recordedPieces(t, cache)[d]; !ok || got != 4096 {
		t.Errorf("after the liars, the cache records the piece as %d bytes (recorded: %v), want the real 4096", got, ok)
	}
}

// expectEIOAt is expectEIO for any file: dd of [off, +n) must fail with EIO.
func expectEIOAt(t *testing.T, path string, off, n int64) {
	t.Helper()
	mustFail(t, fetchTimeout+20*time.Second, eioText, "dd", append(ddArgs(path, off, n), "of=/dev/null")...)
}

// TestManifestTrickle announces a manifest of almost a gigabyte and sends
// it a byte every half second: the mount holds memory for what arrived,
// not for what was announced, and SIGINT ends it promptly while it waits.
func TestManifestTrickle(t *testing.T) {
	requireFUSE(t)
	o := newHostileOrigin(t)
	d := meta.Sum([]byte("a manifest that never arrives"))
	o.put(meta.TagPath("latest"), []byte(d.String()+"\n"))
	o.handle(meta.ManifestPath(d), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000000")
		w.WriteHeader(http.StatusOK)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			if _, err := w.Write([]byte{' '}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
		}
	})
	mnt := newMountpoint(t)
	p := startProc(t, fx.bin, mountArgs(o.URL(), mnt, t.TempDir(), []string{"--fetch-timeout", "5m", "--stall-timeout", "5m"})...)
	t.Cleanup(func() { unmount(t, mnt) })
	time.Sleep(3 * time.Second) // six bytes of the manifest
	if p.exited() {
		t.Fatalf("the mount exited while the manifest arrived:\n%s", p.stderrTail())
	}
	hwm, err := boundProcStatus(p.PID(), "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	const bound = 200 << 20
	if hwm > bound {
		t.Errorf("peak RSS %s while a 1 GB manifest trickled in, want under %s", boundMiB(hwm), boundMiB(bound))
	}
	t.Logf("peak RSS %s after 3 s of a trickled manifest", boundMiB(hwm))
	p.signal(syscall.SIGINT)
	if !p.wait(10 * time.Second) {
		t.Fatalf("the mount did not end within 10s of SIGINT while fetching its manifest (--fetch-timeout 5m)")
	}
	if code := p.exitCode(); code == 0 {
		t.Errorf("an interrupted mount exited 0")
	}
	if lines := p.stdoutLines(); len(lines) != 0 {
		t.Errorf("an interrupted mount printed %q", lines)
	}
	if isMounted(t, mnt) {
		t.Errorf("%s is mounted after an interrupted start", mnt)
	}
}
