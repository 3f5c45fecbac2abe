package store

import (
	"testing"

	"github.com/piecefs/piecefs/meta"
)

func TestCached(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	whole := content(1, 3*bs+10)
	d := putT(t, s, whole)
	complete := pieceOf(d, len(whole))
	data, p := partData(2, 4)
	p = withTable(p, data)
	commitBlocksT(t, s, p, data, 1, 3)
	last := int64(len(data)) - 3*bs // the short last block
	absent := pieceOf(meta.Sum([]byte("absent")), 100)

	for _, tc := range []struct {
		name   string
		p      meta.Piece
		off, n int64
		want   int64
	}{
		{"complete, whole", complete, 0, complete.Size, complete.Size},
		{"complete, inside", complete, 5, 100, 100},
		{"complete, past the end", complete, complete.Size - 4, 100, 4},
		{"complete, empty", complete, 7, 0, 0},
		{"complete, another size", pieceOf(d, len(whole)+1), 0, 10, 0},
		{"partial, whole", p, 0, p.Size, bs + last},
		{"partial, absent block", p, 0, bs, 0},
		{"partial, recorded block", p, bs, bs, bs},
		{"partial, across blocks 0 to 2", p, bs / 2, 2 * bs, bs},
		{"partial, straddling 2 and 3", p, 3*bs - 10, 30, 20},
		{"partial, another size", meta.Piece{Digest: p.Digest, Size: p.Size - 1, Blocks: p.Blocks}, 0, bs * 2, 0},
		{"partial, another table", meta.Piece{Digest: p.Digest, Size: p.Size}, bs, bs, 0},
		{"absent", absent, 0, 100, 0},
		{"negative offset", complete, -10, 20, 10},
	} {
		if got := s.Cached(tc.p, tc.off, tc.n); got != tc.want {
			t.Errorf("%s: Cached(%d, %d) = %d, want %d", tc.name, tc.off, tc.n, got, tc.want)
		}
	}
	st := s.Stats()
	if st.Pieces != 1 || st.Partial != 1 || st.Bytes != complete.Size+bs+last {
		t.Errorf("Stats = %+v; want 1 piece, 1 partial, %d bytes", st, complete.Size+bs+last)
	}
}
