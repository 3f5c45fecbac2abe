package meta

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
)

// DefaultPieceSize is the piece size a publisher uses unless told otherwise.
const DefaultPieceSize = 4 << 20

// Bounds on values a valid manifest may hold. They are far above anything a
// real tree needs and far below what would exhaust a mount's memory.
const (
	MinPieceSize = 4 << 10
	// MaxPieceSize bounds what one fetch holds in memory: a manifest that
	// names huge pieces must not make a mount allocate gigabytes per read.
	MaxPieceSize  = 64 << 20
	MaxEntries    = 1 << 24
	MaxFileSize   = 1 << 50
	MaxNameLen    = 255  // bytes in one path component, as Linux NAME_MAX
	MaxPathLen    = 4096 // bytes in a symlink target or path, as Linux PATH_MAX
	MaxXattrName  = 255
	MaxXattrValue = 64 << 10
	MaxXattrs     = 1024 // per entry
)

// Validate checks the manifest and builds the tables that Lookup, Child,
// Children, Inode, Nlink and AppendSlices use. Decode calls it; a
// publisher building a manifest in memory calls it before encoding.
func (m *Manifest) Validate() error {
	if m.Format != Format {
		return fmt.Errorf("manifest: format %q, want %q", m.Format, Format)
	}
	if m.Version != VersionWholePieces && m.Version != VersionBlocks {
		return fmt.Errorf("manifest: version %d is not supported (this piecefs reads versions %d and %d)", m.Version, VersionWholePieces, VersionBlocks)
	}
	if m.PieceSize < MinPieceSize || m.PieceSize > MaxPieceSize {
		return fmt.Errorf("manifest: piece size %d outside [%d, %d]", m.PieceSize, MinPieceSize, MaxPieceSize)
	}
	if err := m.validBlockSize(); err != nil {
		return err
	}
	for i, p := range m.Pieces {
		if p.Size <= 0 || p.Size > m.PieceSize {
			return fmt.Errorf("manifest: piece %d (%s): size %d outside [1, %d]", i, p.Digest, p.Size, m.PieceSize)
		}
		if err := m.validBlocks(p); err != nil {
			return fmt.Errorf("manifest: piece %d (%s): %w", i, p.Digest, err)
		}
	}
	if len(m.Entries) > MaxEntries || len(m.Pieces) > MaxEntries {
		return fmt.Errorf("manifest: %d entries and %d pieces; at most %d of each", len(m.Entries), len(m.Pieces), MaxEntries)
	}
	if err := m.oneSizePerDigest(); err != nil {
		return err
	}
	if m.Image != nil {
		if err := m.Image.validate(); err != nil {
			return fmt.Errorf("manifest: image: %w", err)
		}
	}
	if m.Prefetch != nil {
		if err := m.Prefetch.validate(); err != nil {
			return fmt.Errorf("manifest: prefetch: %w", err)
		}
	}
	if len(m.Entries) == 0 || m.Entries[0].Path != "." || m.Entries[0].Kind != KindDir {
		return fmt.Errorf("manifest: the first entry must be the root directory \".\"")
	}
	v := validator{m: m, parent: make([]int32, len(m.Entries)), dirs: map[string]int32{".": 0}}
	m.links = make([]uint32, len(m.Entries))
	m.starts = nil
	for i := range m.Entries {
		if err := v.addEntry(i); err != nil {
			return fmt.Errorf("manifest: entry %d %q: %w", i, m.Entries[i].Path, err)
		}
	}
	if err := m.buildTree(v.parent); err != nil {
		return err
	}
	// Hardlinks may name entries that come after them, so they resolve last.
	for i := range m.Entries {
		if err := m.resolveHardlink(i); err != nil {
			return fmt.Errorf("manifest: entry %d %q: %w", i, m.Entries[i].Path, err)
		}
	}
	return nil
}

// validator holds what Validate needs only while it runs.
type validator struct {
	m      *Manifest
	parent []int32          // index of each entry's directory
	dirs   map[string]int32 // directory path → entry index, directories seen so far
	last   int32            // the parent of the entry before: usually the next one's too
}

// oneSizePerDigest refuses a manifest that names one digest with two sizes.
// Content has one size, so one of them is a lie; and the tiers key pieces by
// digest, so a reader trusting the other size would be served bytes of
// another length. It sorts piece indices (4 bytes a piece) rather than
// building a map, so that a manifest of millions of pieces costs little.
func (m *Manifest) oneSizePerDigest() error {
	order := make([]int32, len(m.Pieces))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		return bytes.Compare(m.Pieces[a].Digest[:], m.Pieces[b].Digest[:])
	})
	for k := 1; k < len(order); k++ {
		a, b := m.Pieces[order[k-1]], m.Pieces[order[k]]
		if a.Digest == b.Digest && a.Size != b.Size {
			return fmt.Errorf("manifest: pieces %d and %d name %s with sizes %d and %d; one digest has one size",
				min(order[k-1], order[k]), max(order[k-1], order[k]), a.Digest, a.Size, b.Size)
		}
		if a.Digest == b.Digest && a.Blocks != b.Blocks {
			return fmt.Errorf("manifest: pieces %d and %d name %s with block tables %s and %s; one digest has one block table",
				min(order[k-1], order[k]), max(order[k-1], order[k]), a.Digest, a.Blocks, b.Blocks)
		}
	}
	return nil
}

func (v *validator) addEntry(i int) error {
	m := v.m
	e := &m.Entries[i]
	if i > 0 {
		if err := validPath(e.Path); err != nil {
			return err
		}
		parent, err := v.parentOf(e.Path)
		if err != nil {
			return err
		}
		v.parent[i] = parent
		if e.Kind == KindDir {
			if _, dup := v.dirs[e.Path]; dup {
				return fmt.Errorf("duplicate path")
			}
			v.dirs[e.Path] = int32(i)
			m.links[parent]++
		}
	}
	if e.Mode&^07777 != 0 {
		return fmt.Errorf("mode %#o has bits beyond 07777", e.Mode)
	}
	if err := validXattrs(e.Xattrs); err != nil {
		return err
	}
	if e.Kind != KindFile && (e.Size != 0 || len(e.Extents) != 0) {
		return fmt.Errorf("a %s has no size or extents", e.Kind)
	}
	if e.Kind != KindSymlink && e.Kind != KindHardlink && e.Target != "" {
		return fmt.Errorf("a %s has no target", e.Kind)
	}
	switch e.Kind {
	case KindDir:
		m.links[i] += 2
	case KindFile:
		m.links[i]++
		return m.validExtents(e)
	case KindSymlink:
		m.links[i]++
		if e.Target == "" || len(e.Target) > MaxPathLen || strings.IndexByte(e.Target, 0) >= 0 {
			return fmt.Errorf("symlink target must be 1 to %d bytes without NUL", MaxPathLen)
		}
	case KindChar, KindBlock, KindFifo:
		m.links[i]++
	case KindHardlink:
		// Counted against its target in resolveHardlink.
	default:
		return fmt.Errorf("unknown kind %s", e.Kind)
	}
	return nil
}

// parentOf returns the index of the directory holding path p, which must
// have been listed already.
func (v *validator) parentOf(p string) (int32, error) {
	dir := "."
	if k := strings.LastIndexByte(p, '/'); k >= 0 {
		dir = p[:k]
	}
	if v.m.Entries[v.last].Path == dir {
		return v.last, nil
	}
	parent, ok := v.dirs[dir]
	if !ok {
		return 0, fmt.Errorf("parent directory %q is not listed before it, or is not a directory", dir)
	}
	v.last = parent
	return parent, nil
}

func (m *Manifest) validExtents(e *Entry) error {
	if e.Size < 0 || e.Size > MaxFileSize {
		return fmt.Errorf("size %d outside [0, %d]", e.Size, int64(MaxFileSize))
	}
	var starts []int64
	if len(e.Extents) > manyExtents {
		starts = make([]int64, len(e.Extents))
	}
	var off int64
	for j, x := range e.Extents {
		if x.Piece < 0 || x.Piece >= len(m.Pieces) {
			return fmt.Errorf("extent %d: piece %d does not exist", j, x.Piece)
		}
		p := m.Pieces[x.Piece]
		if x.Length <= 0 || x.Offset < 0 || x.Offset > p.Size-x.Length {
			return fmt.Errorf("extent %d: [%d, +%d) lies outside piece %s of %d bytes", j, x.Offset, x.Length, p.Digest, p.Size)
		}
		if starts != nil {
			starts[j] = off
		}
		off += x.Length
		if off > e.Size {
			return fmt.Errorf("extents hold more than the size %d", e.Size)
		}
	}
	if off != e.Size {
		return fmt.Errorf("extents hold %d bytes, size says %d", off, e.Size)
	}
	if starts != nil {
		if m.starts == nil {
			m.starts = make(map[*Entry][]int64)
		}
		m.starts[e] = starts
	}
	return nil
}

func (m *Manifest) resolveHardlink(i int) error {
	e := &m.Entries[i]
	if e.Kind != KindHardlink {
		return nil
	}
	t, ok := m.Lookup(e.Target)
	if !ok {
		return fmt.Errorf("hardlink target %q does not exist", e.Target)
	}
	switch m.Entries[t].Kind {
	case KindDir, KindHardlink:
		return fmt.Errorf("hardlink target %q is a %s", e.Target, m.Entries[t].Kind)
	}
	m.links[i] = uint32(t)
	m.links[t]++
	return nil
}

// validPath accepts what io/fs.ValidPath accepts, minus the root, plus
// Linux's length limits: no empty, "." or ".." components, no leading or
// trailing slash, no NUL.
func validPath(p string) error {
	if p == "" || p == "." || len(p) > MaxPathLen {
		return fmt.Errorf("path must be 1 to %d bytes and not the root", MaxPathLen)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("path contains NUL")
	}
	for c := range strings.SplitSeq(p, "/") {
		switch {
		case c == "":
			return fmt.Errorf("path has an empty component")
		case c == "." || c == "..":
			return fmt.Errorf("path has a %q component", c)
		case len(c) > MaxNameLen:
			return fmt.Errorf("path component longer than %d bytes", MaxNameLen)
		}
	}
	return nil
}

func validXattrs(x map[string][]byte) error {
	if len(x) > MaxXattrs {
		return fmt.Errorf("%d xattrs, more than %d", len(x), MaxXattrs)
	}
	for k, v := range x {
		if k == "" || len(k) > MaxXattrName || strings.IndexByte(k, 0) >= 0 || !strings.Contains(k, ".") {
			return fmt.Errorf("xattr name %q: want namespace.name, 1 to %d bytes, no NUL", k, MaxXattrName)
		}
		if len(v) > MaxXattrValue {
			return fmt.Errorf("xattr %q: value of %d bytes, more than %d", k, len(v), MaxXattrValue)
		}
	}
	return nil
}

// DefaultBlockSize is the unit piecefs verifies below a piece: format v2
// publishes a sha256 per block of a piece, and the cache keeps a checksum per
// block of what it stores. 64 KiB: a 1-byte cold read fetches at most one
// block (the target is 128 KiB), a block hashes in ~40 µs at 1.7 GB/s,
// less than a loopback round trip, and a 4 MiB piece has 64 block hashes
// (2 KiB), so per-piece block tables stay small.
const DefaultBlockSize = 64 << 10
