package e2e

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
)

// TestVerifyCommand checks piecefs verify on a cache filled by a mount:
// clean, then with one piece flipped and one cut short (both reported and
// dropped), clean again, then damaged and repaired from the origin, then
// refused while a mount holds the cache, and with bad arguments.
func TestVerifyCommand(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	cache := t.TempDir()
	m := startMount(t, origin.URL(), cache)
	compareHashes(t, m.dir, fx.tree.small[:20])
	expectRange(t, m.dir, fx.tree.big, 0, 8<<20)
	m.Stop(t)
	pieces := slices.SortedFunc(maps.Keys(recordedPieces(t, cache)), verifyCompare)
	n := len(pieces)
	if n < 4 {
		t.Fatalf("%d pieces recorded after reading through the mount, want at least 4 to damage", n)
	}
	flipped, cut := pieces[0], pieces[1]

	t.Run("clean", func(t *testing.T) {
		runVerify(t, "--cache", cache).expect(t, 0, n, nil)
	})
	t.Run("damaged", func(t *testing.T) {
		verifyFlipByte(t, cachedPiecePath(cache, flipped))
		verifyCut(t, cachedPiecePath(cache, cut))
		runVerify(t, "--cache", cache).expect(t, 1, n, []meta.Digest{flipped, cut})
		recorded := recordedPieces(t, cache)
		for _, d := range []meta.Digest{flipped, cut} {
			if _, ok := recorded[d]; ok {
				t.Errorf("piece %s is still recorded complete after verify reported it bad", d)
			}
		}
		checkRecordedPieces(t, cache)
	})
	t.Run("dropped", func(t *testing.T) {
		runVerify(t, "--cache", cache).expect(t, 0, n-2, nil)
	})
	t.Run("repaired", func(t *testing.T) {
		verifyRepair(t, origin, cache, pieces[2], pieces[3], n-2)
	})
	t.Run("in-use", func(t *testing.T) {
		verifyInUse(t, origin, cache)
	})
	t.Run("bad-arguments", func(t *testing.T) {
		verifyBadArgs(t, cache, origin.URL())
	})
}

// verifyRepair damages two pieces and has verify refetch them from the
// origin: reported bad, refetched, and then present and right again.
func verifyRepair(t *testing.T, origin *countingOrigin, cache string, flipped, cut meta.Digest, n int) {
	verifyFlipByte(t, cachedPiecePath(cache, flipped))
	verifyCut(t, cachedPiecePath(cache, cut))
	before := origin.PieceGets()
	res := runVerify(t, "--cache", cache, origin.URL())
	res.expect(t, 1, n, []meta.Digest{flipped, cut})
	if res.refetched != 2 {
		t.Errorf("verify with ORIGIN_URL printed refetched %d (-1: no such line), want refetched 2\nstdout: %s", res.refetched, res.stdout)
	}
	if got := origin.PieceGets() - before; got < 2 {
		t.Errorf("verify with ORIGIN_URL made %d piece GETs, want at least the 2 it refetched", got)
	}
	runVerify(t, "--cache", cache).expect(t, 0, n, nil)
	recorded := recordedPieces(t, cache)
	for _, d := range []meta.Digest{flipped, cut} {
		if _, ok := recorded[d]; !ok {
			t.Errorf("piece %s is not recorded complete after verify refetched it", d)
		}
	}
	checkRecordedPieces(t, cache)
}

// verifyInUse runs verify on a cache a mount holds: it must fail at once
// with "in use" and leave the mount working.
func verifyInUse(t *testing.T, origin *countingOrigin, cache string) {
	m := startMount(t, origin.URL(), cache)
	res := runVerify(t, "--cache", cache)
	if res.code != 1 || !strings.Contains(res.stderr, "in use") {
		t.Errorf("verify of a cache a mount holds: status %d, stderr %q; want status 1 and an error containing %q", res.code, res.stderr, "in use")
	}
	t.Logf("verify of a held cache failed after %v: %s", res.elapsed.Round(time.Millisecond), strings.TrimSpace(res.stderr))
	compareHashes(t, m.dir, fx.tree.small[:3])
	m.Stop(t)
}

// verifyBadArgs checks that bad command lines exit 2 with a message.
func verifyBadArgs(t *testing.T, cache, origin string) {
	cases := map[string][]string{
		"unknown-flag":      {"--no-such-flag", "--cache", cache},
		"two-origins":       {"--cache", cache, origin, origin},
		"cache-without-dir": {"--cache"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			res := runVerify(t, args...)
			if res.code != 2 {
				t.Errorf("piecefs verify %s: status %d, want 2\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
			}
			if strings.TrimSpace(res.stderr) == "" {
				t.Errorf("piecefs verify %s: nothing on stderr", strings.Join(args, " "))
			}
		})
	}
}

func verifyCompare(a, b meta.Digest) int { return strings.Compare(a.Hex(), b.Hex()) }
