package fs

import (
	"fmt"
	"path"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/piecefs/piecefs/meta"
)

// maxHeapPerEntry bounds what a mounted manifest keeps on the heap per
// entry: the decoded entry (about 104 bytes, its path and its extent) and
// the manifest's tables (16), with nothing per entry from the file system
// until the kernel looks names up. Building every inode up front cost
// about 500 bytes an entry.
const maxHeapPerEntry = 230

// TestHeapPerEntry decodes a manifest of 100,000 entries laid out as
// publish lays out a tree of small files, builds the file system on it,
// and checks the heap it holds afterwards, so that a mount's memory stays
// bounded by its manifest's size.
func TestHeapPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a manifest of 100,000 entries")
	}
	const n = 100_000
	b := encode(t, bigManifest(n)) // in a call of its own, so that its manifest is garbage now
	before := liveHeap()
	m, err := meta.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	root := NewRoot(m, nil, Options{})
	gofs.NewNodeFS(root, fsOptions(Options{}.withDefaults()))
	after := liveHeap()
	runtime.KeepAlive(root)
	runtime.KeepAlive(b) // in both measurements, so in neither
	perEntry := float64(after-before) / n
	t.Logf("%d entries: %.0f heap bytes an entry after decoding and building the tree (manifest %d bytes)", n, perEntry, len(b))
	if perEntry > maxHeapPerEntry {
		t.Errorf("%.0f heap bytes an entry, more than %d", perEntry, maxHeapPerEntry)
	}
}

// TestHeapPerInode looks every name of a large tree up through go-fuse,
// as the kernel does during a `find`, and checks what each inode the
// kernel then holds costs against InodeBytes, and that Options.Inodes
// follows the inodes as they are made and forgotten.
func TestHeapPerInode(t *testing.T) {
	if testing.Short() {
		t.Skip("looks up 50,000 names")
	}
	m, err := meta.Decode(encode(t, bigManifest(50_000)))
	if err != nil {
		t.Fatal(err)
	}
	var inodes atomic.Int64
	opts := Options{Inodes: &inodes}.withDefaults()
	raw := gofs.NewNodeFS(NewRoot(m, nil, opts), fsOptions(opts))
	if got := inodes.Load(); got != 1 {
		t.Fatalf("%d inodes counted before any lookup, want 1 (the root)", got)
	}
	before := liveHeap()
	lookups := lookupAll(t, raw, m)
	after := liveHeap()
	distinct := int64(0)
	for i := range m.Entries {
		if m.Inode(i) == i {
			distinct++
		}
	}
	// Each hardlink here is looked up after its target, and makes a node
	// that go-fuse discards in favour of the target's: counted, never
	// forgotten (see Options.Inodes).
	counted := inodes.Load()
	if counted < distinct || counted > int64(len(m.Entries)) {
		t.Errorf("%d inodes counted after looking every name up, want %d to %d", counted, distinct, len(m.Entries))
	}
	perInode := float64(after-before) / float64(distinct-1)
	t.Logf("%.0f heap bytes an inode the kernel holds", perInode)
	if perInode > InodeBytes {
		t.Errorf("%.0f heap bytes an inode, more than InodeBytes (%d)", perInode, InodeBytes)
	}
	// The kernel forgets children before their directories.
	for _, l := range slices.Backward(lookups) {
		raw.Forget(l.node, l.n)
	}
	if got, want := inodes.Load(), 1+counted-distinct; got != want {
		t.Errorf("%d inodes counted after the kernel forgot them all, want %d (the root and the discarded nodes)", got, want)
	}
}

type lookup struct{ node, n uint64 }

// lookupAll looks up every entry of m, parents first, and returns the node
// ids the kernel was given, in order, with how many lookups each got.
func lookupAll(t *testing.T, raw fuse.RawFileSystem, m *meta.Manifest) []lookup {
	t.Helper()
	dirs := map[string]uint64{".": fuse.FUSE_ROOT_ID}
	count := map[uint64]uint64{}
	var order []uint64
	for _, e := range m.Entries[1:] {
		var out fuse.EntryOut
		h := fuse.InHeader{NodeId: dirs[path.Dir(e.Path)]}
		if st := raw.Lookup(nil, &h, e.Name(), &out); !st.Ok() || out.NodeId == 0 {
			t.Fatalf("lookup %q: %v", e.Path, st)
		}
		if e.Kind == meta.KindDir {
			dirs[e.Path] = out.NodeId
		}
		if count[out.NodeId] == 0 {
			order = append(order, out.NodeId)
		}
		count[out.NodeId]++
	}
	var ls []lookup
	for _, id := range order {
		ls = append(ls, lookup{id, count[id]})
	}
	return ls
}

func encode(t *testing.T, m *meta.Manifest) []byte {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// liveHeap returns the bytes of live heap objects. Two collections empty
// sync.Pools too (encoding/json keeps its last buffer in one).
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// bigManifest returns a valid manifest of n entries: directories of 1000
// entries, mostly small files packed into shared pieces, one in 100 a
// symlink, one in 1000 a hardlink, one file in 50 with an xattr, as
// test/bigtree writes for the mount measurement.
func bigManifest(n int) *meta.Manifest {
	const perPiece = 4 << 20
	m := &meta.Manifest{Format: meta.Format, Version: meta.VersionWholePieces, PieceSize: perPiece}
	m.Entries = append(m.Entries, meta.Entry{Path: ".", Kind: meta.KindDir, Mode: 0o755})
	var packed int64
	for d := 0; len(m.Entries) < n; d++ {
		dir := fmt.Sprintf("d%03d", d)
		m.Entries = append(m.Entries, meta.Entry{Path: dir, Kind: meta.KindDir, Mode: 0o755})
		for f := 0; f < 1000 && len(m.Entries) < n; f++ {
			e := meta.Entry{Path: fmt.Sprintf("%s/f%04d", dir, f), Mode: 0o644, Mtime: int64(len(m.Entries)) * 1e9}
			switch {
			case f%1000 == 999:
				e = meta.Entry{Path: e.Path, Kind: meta.KindHardlink, Target: fmt.Sprintf("%s/f%04d", dir, f-1)}
			case f%100 == 99:
				e.Kind, e.Mode, e.Target = meta.KindSymlink, 0o777, "f0000"
			default:
				size := int64(1 + len(m.Entries)*7919%256)
				if packed == 0 || packed+size > perPiece {
					m.Pieces = append(m.Pieces, meta.Piece{Digest: meta.Sum(fmt.Appendf(nil, "%d", len(m.Pieces))), Size: perPiece})
					packed = 0
				}
				e.Kind, e.Size = meta.KindFile, size
				e.Extents = []meta.Extent{{Piece: len(m.Pieces) - 1, Offset: packed, Length: size}}
				packed += size
				if f%50 == 7 {
					e.Xattrs = map[string][]byte{"user.n": fmt.Appendf(nil, "%d", len(m.Entries))}
				}
			}
			m.Entries = append(m.Entries, e)
		}
	}
	return m
}
