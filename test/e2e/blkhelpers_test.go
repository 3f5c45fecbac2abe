package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/meta"
)

// The verified-blocks tests (blk*_test.go) publish trees of their own, so
// that they may damage an origin's copy, and read them through mounts with
// the kernel's readahead turned off, so that each read asks the mount for
// exactly the bytes the test names.

const (
	// blkSize is the block size publish writes into version 2 manifests
	// and the store keeps a checksum of: the unit a cold read fetches.
	blkSize = 64 << 10
	// blkPage is the size of the small reads: one page.
	blkPage = 4 << 10
	// partialTable is the bbolt bucket of partial pieces: digest → size (8
	// bytes), block table digest (32), bitmap of the blocks on disk, and a
	// CRC-32C per block (see store/presence.go, encodePartial).
	partialTable = "partial"
	// partialHeader is the length of a partial record before its bitmap.
	partialHeader = 8 + 32
	// blocksSuffix ends the name of a partial piece's file in the cache.
	blocksSuffix = ".blocks"
)

// blkBytes returns n deterministic pseudo-random bytes; seed picks which.
func blkBytes(seed uint64, n int) []byte {
	var key [32]byte
	copy(key[:], fmt.Sprintf("piecefs-blk-%d", seed))
	b := make([]byte, n)
	_, _ = io.ReadFull(rand.NewChaCha8(key), b) // ChaCha8 never fails
	return b
}

// blkPub is a tree a test published for itself.
type blkPub struct {
	src, out string
	digest   string            // "sha256:<hex>", as publish printed it
	m        *meta.Manifest    // the published manifest
	files    map[string][]byte // relative path → content
}

// blkPublish writes files into a new source tree and publishes it with
// flags into a new output directory.
func blkPublish(t *testing.T, files map[string][]byte, flags ...string) *blkPub {
	t.Helper()
	p := &blkPub{src: filepath.Join(t.TempDir(), "src"), out: filepath.Join(t.TempDir(), "out"), files: files}
	for name, b := range files {
		path := filepath.Join(p.src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if p.digest, err = publish(fx.bin, p.src, p.out, flags...); err != nil {
		t.Fatal(err)
	}
	p.m = readPublished(t, p.out, p.digest)
	if p.m.Version != meta.VersionBlocks || p.m.BlockSize != blkSize {
		t.Fatalf("publish wrote version %d with blocks of %d bytes, want version %d with %d", p.m.Version, p.m.BlockSize, meta.VersionBlocks, blkSize)
	}
	return p
}

// names returns the published files' paths, sorted.
func (p *blkPub) names() []string {
	var names []string
	for name := range p.files {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// pieces returns the bytes of every piece the files are made of, put
// together from the manifest's extents and the source files.
func (p *blkPub) pieces(t *testing.T) map[meta.Digest][]byte {
	t.Helper()
	out := map[meta.Digest][]byte{}
	for name, content := range p.files {
		i, ok := p.m.Lookup(name)
		if !ok {
			t.Fatalf("the manifest has no entry %q", name)
		}
		var off int64
		for _, x := range p.m.Entries[p.m.Inode(i)].Extents {
			piece := p.m.Pieces[x.Piece]
			b, ok := out[piece.Digest]
			if !ok {
				b = make([]byte, piece.Size)
				out[piece.Digest] = b
			}
			copy(b[x.Offset:x.Offset+x.Length], content[off:off+x.Length])
			off += x.Length
		}
	}
	for d, b := range out {
		if meta.Sum(b) != d {
			t.Fatalf("piece %s put together from the sources hashes to %s", d, meta.Sum(b))
		}
	}
	return out
}

// blkOpen opens the file rel on the mount for reading and tells the kernel
// that reads are random, so that it reads no page ahead of what is asked:
// each pread reaches the mount as one request for exactly its pages.
func blkOpen(t *testing.T, mnt, rel string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join(mnt, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM); err != nil {
		t.Fatalf("fadvise %s RANDOM: %v", rel, err)
	}
	return f
}

// blkPread reads len(b) bytes at off of f with pread(2), going on after a
// short read; it returns how many it read and the error that stopped it.
func blkPread(f *os.File, b []byte, off int64) (int, error) {
	n := 0
	for n < len(b) {
		m, err := unix.Pread(int(f.Fd()), b[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			return n, io.ErrUnexpectedEOF
		}
		n += m
	}
	return n, nil
}

// blkExpectBytes reads [off, +n) of f and compares it with want.
func blkExpectBytes(t *testing.T, f *os.File, off int64, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	n, err := blkPread(f, got, off)
	switch {
	case err != nil:
		t.Errorf("pread %s [%d, +%d): %v after %d bytes, want the source's bytes", filepath.Base(f.Name()), off, len(want), err, n)
	case !bytes.Equal(got, want):
		t.Errorf("pread %s [%d, +%d): bytes that differ from the source's (first at %d)", filepath.Base(f.Name()), off, len(want), off+int64(blkFirstDiff(got, want)))
	}
}

// blkExpectEIO reads [off, +n) of f and expects EIO, with no byte read.
func blkExpectEIO(t *testing.T, f *os.File, off, n int64) {
	t.Helper()
	got := make([]byte, n)
	m, err := blkPread(f, got, off)
	if !errors.Is(err, unix.EIO) || m != 0 {
		t.Errorf("pread %s [%d, +%d): %d bytes and error %v, want EIO and no byte", filepath.Base(f.Name()), off, n, m, err)
	}
}

func blkFirstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// blkPartials returns what the cache's bucket partial records: for each
// partial piece, its size and the blocks on disk, in order. No mount may be
// using the cache.
func blkPartials(t *testing.T, cache string) map[meta.Digest]blkPartial {
	t.Helper()
	got := map[meta.Digest]blkPartial{}
	withCacheDB(t, cache, func(db *bbolt.DB) error {
		return db.View(func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte(partialTable))
			if b == nil {
				return errors.New("no bucket " + partialTable)
			}
			return b.ForEach(func(k, v []byte) error {
				var d meta.Digest
				p, ok := blkDecodePartial(v)
				if len(k) != len(d) || !ok {
					t.Errorf("bucket %s: key %x with a value of %d bytes that does not decode", partialTable, k, len(v))
					return nil
				}
				copy(d[:], k)
				got[d] = p
				return nil
			})
		})
	})
	return got
}

// blkPartial is a partial piece as bucket partial records it.
type blkPartial struct {
	size   int64
	blocks []int // the blocks on disk, ascending
}

func blkDecodePartial(v []byte) (blkPartial, bool) {
	if len(v) < partialHeader {
		return blkPartial{}, false
	}
	p := blkPartial{size: int64(be64(v[:8]))}
	n := meta.NumBlocks(p.size, blkSize)
	nbits := (n + 7) / 8
	if p.size <= 0 || len(v) != partialHeader+nbits+4*n {
		return blkPartial{}, false
	}
	bitmap := v[partialHeader : partialHeader+nbits]
	for i := range n {
		if bitmap[i/8]&(1<<(i%8)) != 0 {
			p.blocks = append(p.blocks, i)
		}
	}
	return p, true
}

func be64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}

// blkCheckPartials checks, on a cache no mount is using, that every block
// bucket partial records is in the piece's .blocks file with the piece's
// bytes, and that no partial piece is recorded complete too. It returns
// the partial records.
func blkCheckPartials(t *testing.T, cache string, pieces map[meta.Digest][]byte) map[meta.Digest]blkPartial {
	t.Helper()
	partials := blkPartials(t, cache)
	complete := recordedPieces(t, cache)
	for d, p := range partials {
		if _, ok := complete[d]; ok {
			t.Errorf("piece %s is recorded both complete and partial", d)
		}
		want, ok := pieces[d]
		if !ok {
			t.Errorf("bucket %s records piece %s, which the publication does not have", partialTable, d)
			continue
		}
		if p.size != int64(len(want)) {
			t.Errorf("partial piece %s recorded with %d bytes, the piece has %d", d, p.size, len(want))
			continue
		}
		blkCheckPartialFile(t, cachedPiecePath(cache, d)+blocksSuffix, want, p.blocks)
	}
	return partials
}

// blkCheckPartialFile checks that the given blocks of the file at path hold
// the bytes of want, the piece, at the piece's offsets.
func blkCheckPartialFile(t *testing.T, path string, want []byte, blocks []int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		// Say whether the file was renamed to the complete piece's name.
		final := strings.TrimSuffix(path, blocksSuffix)
		fi, ferr := os.Stat(final)
		also := fmt.Sprintf("; %s: %v", filepath.Base(final), ferr)
		if ferr == nil {
			b, _ := os.ReadFile(final)
			also = fmt.Sprintf("; a file of %d bytes (hashing to its name: %v) has the complete piece's name, unrecorded",
				fi.Size(), meta.Sum(b).Hex() == filepath.Base(final))
		}
		t.Errorf("partial piece recorded with %d blocks %v: %v%s", len(blocks), blocks, err, also)
		return
	}
	var bad []int
	for _, k := range blocks {
		off, n := meta.BlockSpan(int64(len(want)), blkSize, k)
		if int64(len(b)) < off+n || !bytes.Equal(b[off:off+n], want[off:off+n]) {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s: recorded blocks %v of %v hold other bytes than the piece's", path, bad, blocks)
	}
}

// blkPartialFiles lists the cache's .blocks files.
func blkPartialFiles(cache string) []string {
	files, _ := filepath.Glob(filepath.Join(cache, piecesDir, "*", "*"+blocksSuffix))
	return files
}

// blkCachedBlocks returns the file blocks (file offset / blkSize) of file
// rel that the cache holds, complete or partial, by its records: what a
// mount with no origin must serve. The file's extents must start on block
// boundaries of their pieces, as a file of at least a piece is published.
func blkCachedBlocks(t *testing.T, cache string, pub *blkPub, rel string) map[int64]bool {
	t.Helper()
	complete := recordedPieces(t, cache)
	partials := blkPartials(t, cache)
	got := map[int64]bool{}
	for _, s := range fileSpans(t, pub.m, rel) {
		if s.start%blkSize != 0 {
			t.Fatalf("%s: an extent starts at %d, not on a block boundary", rel, s.start)
		}
		n := meta.NumBlocks(s.piece.Size, blkSize)
		var have []int
		if _, ok := complete[s.piece.Digest]; ok {
			for k := range n {
				have = append(have, k)
			}
		} else {
			have = partials[s.piece.Digest].blocks
		}
		for _, k := range have {
			if int64(k)*blkSize < s.length {
				got[s.start/blkSize+int64(k)] = true
			}
		}
	}
	return got
}

// blkSortedKeys returns the keys of m, sorted.
func blkSortedKeys(m map[int64]bool) []int64 {
	var keys []int64
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
