package e2e

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// eioText is how the C locale words EIO.
const eioText = "Input/output error"

// ddArgs are dd's arguments to read n bytes at off of the file at path.
func ddArgs(path string, off, n int64) []string {
	return []string{"if=" + path, "bs=64K", "iflag=skip_bytes,count_bytes",
		"skip=" + strconv.FormatInt(off, 10), "count=" + strconv.FormatInt(n, 10), "status=none"}
}

// expectRange reads [off, +n) of rel on the mount with dd and compares it
// with the source.
func expectRange(t *testing.T, mnt, rel string, off, n int64) {
	t.Helper()
	out := runTool(toolTimeout, "", "dd", ddArgs(filepath.Join(mnt, rel), off, n)...)
	if out.err != nil {
		t.Errorf("dd %s [%d, +%d): %v (timed out: %v)\nstderr: %s", rel, off, n, out.err, out.timedOut, out.stderr)
		return
	}
	if want := sourceRange(t, rel, off, n); !bytes.Equal(out.stdout, want) {
		t.Errorf("dd %s [%d, +%d): %d bytes that differ from the source's %d", rel, off, n, len(out.stdout), len(want))
	}
}

// expectEIO reads [off, +n) of rel on the mount with dd and expects EIO
// within the fetch timeout and some slack for retries and process start.
func expectEIO(t *testing.T, mnt, rel string, off, n int64) {
	t.Helper()
	limit := fetchTimeout + 20*time.Second
	out := mustFail(t, limit, eioText, "dd", append(ddArgs(filepath.Join(mnt, rel), off, n), "of=/dev/null")...)
	if out.err != nil && !out.timedOut {
		t.Logf("dd %s [%d, +%d) failed after %v", rel, off, n, out.elapsed.Round(time.Millisecond))
	}
}

// sourceRange returns n bytes of the source file rel at off.
func sourceRange(t *testing.T, rel string, off, n int64) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join(fx.tree.root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(io.NewSectionReader(f, off, n), b); err != nil {
		t.Fatalf("read the source %s [%d, +%d): %v", rel, off, n, err)
	}
	return b
}
