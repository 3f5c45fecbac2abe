package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
)

// boundGenPieceSize is the piece size of the generated tree: the default
// a publisher uses.
const boundGenPieceSize = meta.DefaultPieceSize

// boundGenFile is the one file of the generated tree.
const boundGenFile = "stream.bin"

// boundGenFill fills b with the bytes of piece i of the generated file.
// len(b) must be a multiple of boundGenBlock. The piece is made of random
// blocks picked by a hash of (i, block), each 512-byte sector stamped with
// i and its offset, so that every sector of the file is unique and bytes
// served from the wrong piece or offset show. It is built by copying, not
// byte by byte, so that it stays fast (GB/s) under the race detector too,
// and neither the origin nor the checks need to keep the bytes.
func boundGenFill(b []byte, i int) {
	blocks := boundGenBlocks()
	for off := 0; off < len(b); off += boundGenBlock {
		k := boundGenMix(uint64(i)<<32|uint64(off/boundGenBlock)) % uint64(len(blocks))
		copy(b[off:off+boundGenBlock], blocks[k])
	}
	for off := 0; off < len(b); off += boundGenSector {
		binary.LittleEndian.PutUint64(b[off:], uint64(i))
		binary.LittleEndian.PutUint64(b[off+8:], uint64(off))
	}
}

const (
	boundGenBlock  = 64 << 10
	boundGenSector = 512
)

// boundGenBlocks are the random blocks generated pieces are made of.
var boundGenBlocks = sync.OnceValue(func() [][]byte {
	src := rand.NewChaCha8([32]byte{'b', 'o', 'u', 'n', 'd'})
	blocks := make([][]byte, 61) // a prime, so that picks do not line up
	for k := range blocks {
		blocks[k] = make([]byte, boundGenBlock)
		_, _ = src.Read(blocks[k]) // never fails
	}
	return blocks
})

// boundGenMix is splitmix64's finaliser.
func boundGenMix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// boundGenOrigin serves, on 127.0.0.1, a published tree of one file of
// any size whose pieces it generates on each request: the tag latest, the
// manifest, and the pieces, in the layout of docs/format.md.
type boundGenOrigin struct {
	srv      *httptest.Server
	size     int64
	m        *meta.Manifest
	manifest []byte // m encoded
	digest   meta.Digest
	pieces   map[string]int // piece URL path → index
	bufs     sync.Pool      // *[]byte of boundGenPieceSize
}

// newBoundGenOrigin computes the digest of every piece of a file of size
// bytes (a multiple of boundGenBlock), builds its manifest, and starts
// serving it; it stops when the test ends.
func newBoundGenOrigin(t *testing.T, size int64) *boundGenOrigin {
	t.Helper()
	o := &boundGenOrigin{size: size, pieces: map[string]int{}}
	o.bufs.New = func() any { b := make([]byte, boundGenPieceSize); return &b }
	start := time.Now()
	digests := boundGenDigests(size)
	m := boundGenManifest(size, digests)
	if err := m.Validate(); err != nil {
		t.Fatalf("the generated manifest: %v", err)
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	o.m, o.manifest, o.digest = m, b, meta.Sum(b)
	for i, p := range m.Pieces {
		o.pieces["/"+meta.PiecePath(p.Digest)] = i
	}
	t.Logf("generated a %s file: %d pieces hashed in %v", boundMiB(size), len(digests), time.Since(start).Round(time.Millisecond))
	o.srv = httptest.NewServer(o) // listens on 127.0.0.1
	t.Cleanup(o.srv.Close)
	return o
}

// URL is the origin's base URL.
func (o *boundGenOrigin) URL() string { return o.srv.URL }

// pieceLen is the length of piece i.
func (o *boundGenOrigin) pieceLen(i int) int64 {
	return min(boundGenPieceSize, o.size-int64(i)*boundGenPieceSize)
}

// boundGenDigests hashes every piece of a file of size bytes, on as many
// goroutines as there are CPUs.
func boundGenDigests(size int64) []meta.Digest {
	n := int((size + boundGenPieceSize - 1) / boundGenPieceSize)
	digests := make([]meta.Digest, n)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			buf := make([]byte, boundGenPieceSize)
			for i := w; i < n; i += workers {
				b := buf[:min(boundGenPieceSize, size-int64(i)*boundGenPieceSize)]
				boundGenFill(b, i)
				digests[i] = sha256.Sum256(b)
			}
		})
	}
	wg.Wait()
	return digests
}

// boundGenManifest describes a root holding boundGenFile, made of the
// pieces with these digests in order.
func boundGenManifest(size int64, digests []meta.Digest) *meta.Manifest {
	mtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()
	m := &meta.Manifest{Format: meta.Format, Version: meta.VersionWholePieces, PieceSize: boundGenPieceSize}
	file := meta.Entry{Path: boundGenFile, Kind: meta.KindFile, Mode: 0o644, Mtime: mtime, Size: size}
	for i, d := range digests {
		n := min(boundGenPieceSize, size-int64(i)*boundGenPieceSize)
		m.Pieces = append(m.Pieces, meta.Piece{Digest: d, Size: n})
		file.Extents = append(file.Extents, meta.Extent{Piece: i, Length: n})
	}
	m.Entries = []meta.Entry{{Path: ".", Kind: meta.KindDir, Mode: 0o755, Mtime: mtime}, file}
	return m
}

func (o *boundGenOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	switch p := r.URL.Path; {
	case p == "/"+meta.TagPath("latest"):
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(o.digest.String()+"\n"))
	case p == "/"+meta.ManifestPath(o.digest):
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(o.manifest))
	default:
		i, ok := o.pieces[p]
		if !ok {
			http.NotFound(w, r)
			return
		}
		o.servePiece(w, r, i)
	}
}

// servePiece generates piece i and sends it. A whole-piece GET writes the
// buffer as is: under the race detector every copy of 10 GiB costs, and
// http.ServeContent would copy it once more on the way.
func (o *boundGenOrigin) servePiece(w http.ResponseWriter, r *http.Request, i int) {
	buf := o.bufs.Get().(*[]byte)
	defer o.bufs.Put(buf)
	b := (*buf)[:o.pieceLen(i)]
	boundGenFill(b, i)
	if r.Header.Get("Range") != "" {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(b) // the client may be gone; it sees a short body
	}
}
