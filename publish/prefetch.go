package publish

import (
	"fmt"

	"github.com/piecefs/piecefs/meta"
)

// maxDropWarnings bounds the ranges of a prefetch list warned about one by
// one; the rest are counted in one warning.
const maxDropWarnings = 10

// attachPrefetch resolves the prefetch list l against m, the tree just
// built: ranges of paths that are not regular files of m are dropped with a
// warning, the others clamped to their files. What is left is written to
// sink as an object named by its sha256, at a piece's place in the layout,
// and named by m.Prefetch; an empty list is not published.
func attachPrefetch(m *meta.Manifest, l *meta.PrefetchList, sink Sink, opts Options) error {
	dropped := 0
	kept := meta.NewPrefetchList()
	kept.Ranges = m.ResolvePrefetch(l, func(r meta.PrefetchRange, why string) {
		if dropped++; dropped <= maxDropWarnings {
			opts.warn(r.Path, "prefetch range left out: "+why)
		}
	})
	if dropped > maxDropWarnings {
		opts.warn(".", fmt.Sprintf("%d more prefetch ranges left out", dropped-maxDropWarnings))
	}
	if len(kept.Ranges) == 0 {
		opts.warn(".", "no range of the prefetch list applies to this tree: publishing none")
		return nil
	}
	b, err := kept.Encode()
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	d := meta.Sum(b)
	if err := sink.PutPiece(d, b); err != nil {
		return fmt.Errorf("publish: prefetch list: %w", err)
	}
	m.Prefetch = &meta.ObjectRef{Digest: d, Size: int64(len(b))}
	return nil
}
