package origin_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/piecefs/piecefs/fetch"
	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/origin"
)

// TestFetchFromHandler publishes with Dir and reads back with fetch through
// Handler under a path prefix: the writer, the server and the client must
// agree on the layout.
func TestFetchFromHandler(t *testing.T) {
	root := t.TempDir()
	dir, err := origin.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	piece := bytes.Repeat([]byte("piecefs "), 1000)
	p := meta.Piece{Digest: meta.Sum(piece), Size: int64(len(piece))}
	manifest := []byte(`{"format":"piecefs-manifest"}`)
	if err := dir.PutPiece(p.Digest, piece); err != nil {
		t.Fatal(err)
	}
	md, err := dir.PutManifest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.SetTag("latest", md); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(http.StripPrefix("/models/x", origin.Handler(root, nil)))
	defer srv.Close()
	f, err := fetch.New(srv.URL+"/models/x", fetch.Options{Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	ctx := context.Background()
	gotTag, err := f.Tag(ctx, "latest")
	if err != nil || gotTag != md {
		t.Fatalf("Tag: got %s, %v; want %s", gotTag, err, md)
	}
	gotManifest, err := f.Manifest(ctx, gotTag)
	if err != nil || !bytes.Equal(gotManifest, manifest) {
		t.Fatalf("Manifest: got %q, %v; want %q", gotManifest, err, manifest)
	}
	gotPiece, err := f.Piece(ctx, p)
	if err != nil || !bytes.Equal(gotPiece, piece) {
		t.Fatalf("Piece: got %d bytes, %v; want %d", len(gotPiece), err, len(piece))
	}
}
