package e2e

import (
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The attributes a mount adds to those the tree publishes.
const (
	xattrCached  = "user.piecefs.cached"
	xattrPinned  = "user.piecefs.pinned"
	xattrDigest  = "user.piecefs.digest"
	xattrControl = "user.piecefs.control"
)

// TestCacheXattrs reads what a mount says of its cache with getfattr: a
// file's cached bytes before and after it is read, its published
// attribute beside ours, and the root's digest and control socket.
func TestCacheXattrs(t *testing.T) {
	requireTool(t, "getfattr")
	m := startMount(t, newCountingOrigin(t, fx.out).URL(), t.TempDir())
	if got := getfattr(t, m.dir, ".", xattrDigest); got != m.digest || got != fx.digest {
		t.Errorf("getfattr -n %s on the root: %q; the mount printed %s, publish %s", xattrDigest, got, m.digest, fx.digest)
	}
	ctl := getfattr(t, m.dir, ".", xattrControl)
	if fi, err := os.Stat(ctl); err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Errorf("getfattr -n %s on the root: %q, not a socket (%v)", xattrControl, ctl, err)
	}
	// A small file that shares its piece, and one of several pieces.
	files := map[string]int64{"xattr/file": 50, "sizes/3piece+17": 3*pieceSize + 17}
	for name := range files {
		if got := getfattr(t, m.dir, name, xattrCached); got != "0" {
			t.Errorf("%s before any read: %s %q, want \"0\"", name, xattrCached, got)
		}
	}
	for name, size := range files {
		mustRun(t, m.dir, "cat", "--", name)
		// Blocks are recorded after the read is answered, so wait a little.
		want := strconv.FormatInt(size, 10)
		waitFor(t, 10*time.Second, name+" "+xattrCached+" = "+want, func() bool {
			return getfattr(t, m.dir, name, xattrCached) == want
		})
		if got := getfattr(t, m.dir, name, xattrPinned); got != "0" {
			t.Errorf("%s: %s %q, want \"0\"", name, xattrPinned, got)
		}
	}
	// getfattr -d lists (listxattr) and reads every user attribute.
	dump := string(mustRun(t, m.dir, "getfattr", "-d", "--", "xattr/file"))
	for _, want := range []string{xattrName + "=", xattrCached + `="50"`, xattrPinned + `="0"`} {
		if !strings.Contains(dump, "\n"+want) {
			t.Errorf("getfattr -d xattr/file: no line %s...:\n%s", want, dump)
		}
	}
	mustFail(t, toolTimeout, "No such attribute", "getfattr", "-n", xattrCached, "--", m.dir+"/xattr")
	m.Stop(t)
}

// getfattr returns the value of the attribute name of the entry at rel
// under dir, as getfattr prints it.
func getfattr(t *testing.T, dir, rel, name string) string {
	t.Helper()
	return string(mustRun(t, dir, "getfattr", "-n", name, "--only-values", "--", rel))
}
