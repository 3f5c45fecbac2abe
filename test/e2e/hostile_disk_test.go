package e2e

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// TestManifestOnFullDisk mounts a manifest larger than the free space of
// the cache directory: the mount goes ahead, as it does when a piece
// cannot be kept, serves the files, and warns that the manifest is not
// cached.
func TestManifestOnFullDisk(t *testing.T) {
	cache := dmgTmpfs(t, 0, "size=512k,mode=0700")
	data := hostileBytes(5, 4096)
	d := meta.Sum(data)
	doc := oneFileManifest([]rawPiece{{d.String(), 4096}}, rawExtent{Piece: 0, Offset: 0, Length: 4096})
	for i := range 20000 { // about 1.5 MB of JSON, three times the disk
		doc.Entries = append(doc.Entries, rawEntry{Path: fmt.Sprintf("file-%05d", i), Kind: "file", Mode: 0o644,
			Size: 16, Extents: []rawExtent{{Piece: 0, Offset: int64(i % 4000), Length: 16}}})
	}
	o := newHostileOrigin(t)
	o.putPiece(d, data)
	o.putManifest(t, doc)
	m := startMount(t, o.URL(), cache)
	if got := mustRun(t, "", "cat", filepath.Join(m.dir, "f")); !bytes.Equal(got, data) {
		t.Fatalf("f reads %d other bytes", len(got))
	}
	if got := mustRun(t, "", "cat", filepath.Join(m.dir, "file-01234")); !bytes.Equal(got, data[1234:1250]) {
		t.Fatalf("file-01234 reads %q, want %q", got, data[1234:1250])
	}
	m.Stop(t)
	if !bytes.Contains(m.Stderr(), []byte("could not keep the manifest")) {
		t.Errorf("no warning that the manifest could not be kept:\n%s", m.stderrTail())
	}
}
