package e2e

import (
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/piecefs/piecefs/internal/harness"
	"github.com/piecefs/piecefs/meta"
)

// TestOriginWithoutRange serves a version 2 publication with Python's
// http.server, which ignores Range and answers every GET of a piece with
// 200 and the whole piece. A cold mount serves random small reads right,
// across blocks and pieces, and reads the whole tree right; so does a
// second cold mount that reads only the whole tree.
func TestOriginWithoutRange(t *testing.T) {
	requireFUSE(t)
	python, err := exec.LookPath("python3")
	if err != nil {
		missing(t, "python3 is not installed: %v", err)
	}
	pub := blkPublish(t, rangeTree(), "--piece-size", "1MiB")
	url := startPythonOrigin(t, python, pub.out)
	rangeCheckIgnored(t, url, pub.m.Pieces[0])

	t.Run("random reads, then the tree", func(t *testing.T) {
		m := startMount(t, url, t.TempDir())
		rangeRandomReads(t, m.dir, pub, 300)
		rangeWholeTree(t, m.dir, pub)
		m.Stop(t)
	})
	t.Run("the tree", func(t *testing.T) {
		cache := t.TempDir()
		m := startMount(t, url, cache)
		rangeWholeTree(t, m.dir, pub)
		m.Stop(t)
		checkRecordedPieces(t, cache)
		blkCheckPartials(t, cache, pub.pieces(t))
	})
}

// rangeTree is a tree of files of sizes around the 1 MiB pieces and the
// 64 KiB blocks, a file of many pieces, and small files packed together.
func rangeTree() map[string][]byte {
	files := map[string][]byte{
		"big.bin":                   blkBytes(10, 9<<20+777),
		"sizes/piece.bin":           blkBytes(11, 1<<20),
		"sizes/piece-minus-one.bin": blkBytes(12, 1<<20-1),
		"sizes/piece-plus-one.bin":  blkBytes(13, 1<<20+1),
		"sizes/block.bin":           blkBytes(14, blkSize),
		"sizes/block-minus-one.bin": blkBytes(15, blkSize-1),
		"sizes/block-plus-one.bin":  blkBytes(16, blkSize+1),
		"sizes/one-byte":            {'x'},
		"sizes/empty":               {},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 150 {
		files[fmt.Sprintf("small/%03d.txt", i)] = blkBytes(uint64(100+i), 1+rng.IntN(30000))
	}
	return files
}

// startPythonOrigin serves dir with `python3 -m http.server` on 127.0.0.1
// and returns its base URL.
func startPythonOrigin(t *testing.T, python, dir string) string {
	t.Helper()
	ports, err := harness.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	p := startProc(t, python, "-m", "http.server", "--bind", "127.0.0.1", strconv.Itoa(ports[0]), "--directory", dir)
	t.Cleanup(func() { stopProc(p) })
	url := harness.LoopbackURL(ports[0])
	if err := harness.WaitHTTP(timeoutCtx(t, originTimeout), url+"/"+meta.TagPath("latest"), p.Process); err != nil {
		t.Fatalf("python3 -m http.server: %v", err)
	}
	return url
}

// rangeCheckIgnored checks that the origin at url answers a Range request
// for piece p with 200 and the whole piece, as this test assumes.
func rangeCheckIgnored(t *testing.T, url string, p meta.Piece) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/"+meta.PiecePath(p.Digest), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Range", "bytes=0-99")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || int64(len(b)) != p.Size {
		t.Fatalf("a Range request to the origin got %s and %d bytes, want 200 and the whole piece (%d bytes): this test needs a server that ignores Range", resp.Status, len(b), p.Size)
	}
}

// rangeRandomReads makes n reads of random lengths at random offsets of
// the tree's files (most of them of the big file), with the kernel's
// readahead off, and compares each with the source.
func rangeRandomReads(t *testing.T, mnt string, pub *blkPub, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	names := slices.DeleteFunc(pub.names(), func(s string) bool { return len(pub.files[s]) == 0 })
	lengths := []int64{1, 100, blkPage, blkSize, blkSize + 1, 200 << 10}
	for range n {
		name := "big.bin"
		if rng.IntN(3) == 0 {
			name = names[rng.IntN(len(names))]
		}
		content := pub.files[name]
		f := blkOpen(t, mnt, name)
		off := rng.Int64N(int64(len(content)))
		end := min(off+lengths[rng.IntN(len(lengths))], int64(len(content)))
		blkExpectBytes(t, f, off, content[off:end])
		f.Close()
		if t.Failed() {
			t.Fatalf("stopped after the first failed read")
		}
	}
}

// rangeWholeTree checks that the mount lists exactly the tree's files and
// that each has the source's sha256.
func rangeWholeTree(t *testing.T, mnt string, pub *blkPub) {
	t.Helper()
	var got []string
	err := filepath.WalkDir(mnt, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(mnt, p)
		got = append(got, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if lost, extra := diffSorted(pub.names(), got); len(lost)+len(extra) > 0 {
		t.Errorf("the mount lists other files than the source: missing %q, extra %q", firstN(lost), firstN(extra))
	}
	compareBlkHashes(t, mnt, pub, pub.names())
}
