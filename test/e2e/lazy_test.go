package e2e

import (
	"bytes"
	"path/filepath"
	"strconv"
	"testing"
)

// TestLazyRead checks that mounting fetches no piece and that reading a
// byte fetches at most the one piece that holds it.
func TestLazyRead(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	m := startMount(t, origin.URL(), t.TempDir())
	big := filepath.Join(m.dir, fx.tree.big)
	if got := origin.PieceGets(); got != 0 {
		t.Errorf("mounting made %d piece GETs, want 0", got)
	}

	first := sourceRange(t, fx.tree.big, 0, 1)
	if got := mustRun(t, "", "dd", "if="+big, "bs=1", "count=1", "status=none"); !bytes.Equal(got, first) {
		t.Errorf("dd 1 byte of %s: got %x, want %x", fx.tree.big, got, first)
	}
	if got := mustRun(t, "", "head", "-c1", big); !bytes.Equal(got, first) {
		t.Errorf("head -c1 %s: got %x, want %x", fx.tree.big, got, first)
	}
	if got := origin.PieceGets(); got > 1 {
		t.Errorf("reading the first byte twice made %d piece GETs, want at most 1", got)
	}

	// One byte in the middle: one more piece at most.
	const mid = 150<<20 + 12345
	want := sourceRange(t, fx.tree.big, mid, 1)
	got := mustRun(t, "", "dd", "if="+big, "bs=1", "count=1", "skip="+strconv.Itoa(mid), "status=none")
	if !bytes.Equal(got, want) {
		t.Errorf("dd 1 byte at %d: got %x, want %x", mid, got, want)
	}
	if got := origin.PieceGets(); got > 2 {
		t.Errorf("after reading a byte at 0 and at %d: %d piece GETs, want at most 2", mid, got)
	}
	m.Stop(t)
}
