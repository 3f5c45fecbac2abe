package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// hostileOrigin serves a layout a test writes object by object, including
// manifests that no publisher would write, and lets a test answer any path
// with its own handler.
type hostileOrigin struct {
	srv *httptest.Server

	mu       sync.Mutex // guards objects and handlers
	objects  map[string][]byte
	handlers map[string]http.HandlerFunc
}

func newHostileOrigin(t *testing.T) *hostileOrigin {
	t.Helper()
	o := &hostileOrigin{objects: map[string][]byte{}, handlers: map[string]http.HandlerFunc{}}
	o.srv = httptest.NewServer(o)
	t.Cleanup(o.srv.Close)
	return o
}

func (o *hostileOrigin) URL() string { return o.srv.URL }

func (o *hostileOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	o.mu.Lock()
	h, b, ok := o.handlers[p], o.objects[p], false
	if h == nil {
		_, ok = o.objects[p]
	}
	o.mu.Unlock()
	switch {
	case h != nil:
		h(w, r)
	case ok:
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		_, _ = w.Write(b)
	default:
		http.NotFound(w, r)
	}
}

// put serves b at path p.
func (o *hostileOrigin) put(p string, b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.objects[p] = b
}

// handle answers path p with h.
func (o *hostileOrigin) handle(p string, h http.HandlerFunc) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.handlers[p] = h
}

// putPiece serves b as the piece with digest d, whatever b hashes to.
func (o *hostileOrigin) putPiece(d meta.Digest, b []byte) { o.put(meta.PiecePath(d), b) }

// putManifest serves the manifest doc, valid or not, encoded as JSON, as
// its own digest under tag latest, and returns the digest.
func (o *hostileOrigin) putManifest(t *testing.T, doc any) meta.Digest {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	d := meta.Sum(b)
	o.put(meta.ManifestPath(d), b)
	o.put(meta.TagPath("latest"), []byte(d.String()+"\n"))
	return d
}

// rawManifest is a manifest as JSON sees it, so that a test can write what
// meta.Validate would refuse. Field names follow docs/format.md.
type rawManifest struct {
	Format    string     `json:"format"`
	Version   int        `json:"version"`
	PieceSize int64      `json:"pieceSize"`
	Pieces    []rawPiece `json:"pieces"`
	Entries   []rawEntry `json:"entries"`
}

type rawPiece struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

type rawEntry struct {
	Path    string      `json:"path"`
	Kind    string      `json:"kind"`
	Mode    uint32      `json:"mode"`
	Size    int64       `json:"size,omitempty"`
	Extents []rawExtent `json:"extents,omitempty"`
}

type rawExtent struct {
	Piece  int   `json:"piece"`
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// oneFileManifest is a manifest of a root holding the file "f" made of the
// given extents over the given pieces.
func oneFileManifest(pieces []rawPiece, extents ...rawExtent) rawManifest {
	var size int64
	for _, x := range extents {
		size += x.Length
	}
	return rawManifest{
		Format: meta.Format, Version: meta.VersionWholePieces, PieceSize: 1 << 20, Pieces: pieces,
		Entries: []rawEntry{
			{Path: ".", Kind: "dir", Mode: 0o755},
			{Path: "f", Kind: "file", Mode: 0o644, Size: size, Extents: extents},
		},
	}
}

// hostileBytes returns n bytes that differ from piece to piece by seed.
func hostileBytes(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed ^ byte(i*13+i>>7)
	}
	return b
}
