package fs

import (
	"context"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/meta"
)

const (
	testDigest  = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	testControl = "/var/cache/piecefs/control.sock"
)

// fakeInfo is a CacheInfo over tables keyed by path, which a test may
// change between calls; the kernel calls it from go-fuse's goroutines.
type fakeInfo struct {
	mu     sync.Mutex
	cached map[string]int64 // guards cached and pinned
	pinned map[string]bool
}

func newFakeInfo() *fakeInfo {
	return &fakeInfo{
		cached: map[string]int64{"hello.txt": 7, "dir/later.txt": 13, "big.bin": 12345},
		pinned: map[string]bool{"dir/later.txt": true},
	}
}

func (f *fakeInfo) Cached(e *meta.Entry) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cached[e.Path]
}

func (f *fakeInfo) Pinned(e *meta.Entry) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pinned[e.Path]
}

func (f *fakeInfo) setCached(p string, n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cached[p] = n
}

// allXattrs are options that turn every attribute of ours on.
func allXattrs() Options {
	return Options{Info: newFakeInfo(), Digest: testDigest, Control: testControl}
}

type getxattrCase struct {
	path, attr string
	destLen    int
	wantN      uint32
	wantErrno  syscall.Errno
	want       string
}

func checkGetxattr(t *testing.T, fsys *testFS, tests []getxattrCase) {
	t.Helper()
	for _, tc := range tests {
		dest := make([]byte, tc.destLen)
		getter := walk(t, fsys, tc.path).Operations().(gofs.NodeGetxattrer)
		n, errno := getter.Getxattr(context.Background(), tc.attr, dest)
		if n != tc.wantN || errno != tc.wantErrno {
			t.Errorf("%s %s: Getxattr = %d, %v; want %d, %v", tc.path, tc.attr, n, errno, tc.wantN, tc.wantErrno)
			continue
		}
		if errno == 0 && tc.destLen > 0 && string(dest[:n]) != tc.want {
			t.Errorf("%s %s: value %q, want %q", tc.path, tc.attr, dest[:n], tc.want)
		}
	}
}

func TestGetxattrOurs(t *testing.T) {
	_, fsys := newTestTree(t, allXattrs())
	checkGetxattr(t, fsys, []getxattrCase{
		{"hello.txt", xattrCached, 64, 1, 0, "7"},
		{"hello.txt", xattrPinned, 64, 1, 0, "0"},
		{"hello.txt", "user.greeting", 64, 2, 0, "hi"},
		{"hardlink", xattrCached, 64, 2, 0, "13"}, // its target's
		{"hardlink", xattrPinned, 64, 1, 0, "1"},
		{"big.bin", xattrCached, 0, 5, 0, ""}, // size query
		{"big.bin", xattrCached, 5, 5, 0, "12345"},
		{"big.bin", xattrCached, 2, 5, syscall.ERANGE, ""},
		{"empty", xattrCached, 64, 1, 0, "0"},
		{".", xattrDigest, 0, uint32(len(testDigest)), 0, ""},
		{".", xattrDigest, 128, uint32(len(testDigest)), 0, testDigest},
		{".", xattrControl, 128, uint32(len(testControl)), 0, testControl},
		// Only regular files have cached and pinned, only the root the others.
		{".", xattrCached, 64, 0, syscall.ENODATA, ""},
		{"dir", xattrCached, 64, 0, syscall.ENODATA, ""},
		{"dir", xattrDigest, 64, 0, syscall.ENODATA, ""},
		{"link", xattrCached, 64, 0, syscall.ENODATA, ""},
		{"fifo", xattrPinned, 64, 0, syscall.ENODATA, ""},
		{"hello.txt", xattrDigest, 64, 0, syscall.ENODATA, ""},
		{"hello.txt", xattrControl, 64, 0, syscall.ENODATA, ""},
		{"hello.txt", "user.piecefs.nope", 64, 0, syscall.ENODATA, ""},
	})
}

// TestGetxattrOursOff checks that each option adds only its attributes.
func TestGetxattrOursOff(t *testing.T) {
	_, fsys := newTestTree(t, Options{Digest: testDigest})
	checkGetxattr(t, fsys, []getxattrCase{
		{".", xattrDigest, 128, uint32(len(testDigest)), 0, testDigest},
		{".", xattrControl, 128, 0, syscall.ENODATA, ""},
		{"hello.txt", xattrCached, 64, 0, syscall.ENODATA, ""},
		{"hello.txt", xattrPinned, 64, 0, syscall.ENODATA, ""},
	})
}

// TestXattrPublishedWins publishes attributes under our names: they are
// served and listed, and ours are not.
func TestXattrPublishedWins(t *testing.T) {
	f := newFixture(t)
	f.m.Entries[f.index(t, "hello.txt")].Xattrs[xattrCached] = []byte("published")
	f.m.Entries[0].Xattrs = map[string][]byte{xattrDigest: []byte("sha256:published")}
	fsys := serveFixture(f, allXattrs())
	checkGetxattr(t, fsys, []getxattrCase{
		{"hello.txt", xattrCached, 64, 9, 0, "published"},
		{"hello.txt", xattrPinned, 64, 1, 0, "0"},
		{".", xattrDigest, 64, 16, 0, "sha256:published"},
		{".", xattrControl, 64, uint32(len(testControl)), 0, testControl},
	})
	checkListxattr(t, fsys, []listxattrCase{
		{"hello.txt", 64, "user.greeting\x00" + xattrCached + "\x00" + xattrPinned + "\x00", 0},
		{".", 64, xattrDigest + "\x00" + xattrControl + "\x00", 0},
	})
}

type listxattrCase struct {
	path      string
	destLen   int
	want      string // the whole list, even when dest is too small for it
	wantErrno syscall.Errno
}

func checkListxattr(t *testing.T, fsys *testFS, tests []listxattrCase) {
	t.Helper()
	for _, tc := range tests {
		dest := make([]byte, tc.destLen)
		lister := walk(t, fsys, tc.path).Operations().(gofs.NodeListxattrer)
		n, errno := lister.Listxattr(context.Background(), dest)
		if n != uint32(len(tc.want)) || errno != tc.wantErrno {
			t.Errorf("%s (%d bytes): Listxattr = %d, %v; want %d, %v", tc.path, tc.destLen, n, errno, len(tc.want), tc.wantErrno)
			continue
		}
		if errno == 0 && tc.destLen > 0 && string(dest[:n]) != tc.want {
			t.Errorf("%s: names %q, want %q", tc.path, dest[:n], tc.want)
		}
	}
}

func TestListxattrOurs(t *testing.T) {
	_, fsys := newTestTree(t, allXattrs())
	const ours = xattrCached + "\x00" + xattrPinned + "\x00"
	const root = xattrDigest + "\x00" + xattrControl + "\x00"
	checkListxattr(t, fsys, []listxattrCase{
		{"hello.txt", 64, "user.greeting\x00" + ours, 0},
		{"hello.txt", 0, "user.greeting\x00" + ours, 0}, // size query
		{"hello.txt", 20, "user.greeting\x00" + ours, syscall.ERANGE},
		{"hardlink", 64, "user.shared\x00" + ours, 0},
		{"empty", 64, ours, 0},
		{".", 64, root, 0},
		{"dir", 64, "user.a\x00user.b\x00user.empty\x00", 0},
		{"link", 64, "", 0},
		{"null", 64, "", 0},
	})
	_, fsys = newTestTree(t, Options{Control: testControl})
	checkListxattr(t, fsys, []listxattrCase{
		{".", 64, xattrControl + "\x00", 0},
		{"hello.txt", 64, "user.greeting\x00", 0},
	})
}

// TestXattrFresh checks that a value is computed on every call, through
// the kernel too: it keeps no extended attributes of a FUSE file system.
func TestXattrFresh(t *testing.T) {
	opts := allXattrs()
	info := opts.Info.(*fakeInfo)
	_, mnt := mountFixtureWith(t, opts)
	p := filepath.Join(mnt, "hello.txt")
	buf := make([]byte, 64)
	for _, tc := range []struct {
		cached int64
		want   string
	}{{7, "7"}, {1 << 40, "1099511627776"}, {0, "0"}} {
		info.setCached("hello.txt", tc.cached)
		n, err := unix.Getxattr(p, xattrCached, buf)
		if err != nil || string(buf[:n]) != tc.want {
			t.Errorf("getxattr %s = %q, %v; want %q", xattrCached, buf[:n], err, tc.want)
		}
	}
	n, err := unix.Getxattr(mnt, xattrDigest, buf[:0])
	if err != nil || n != len(testDigest) {
		t.Errorf("size of the root's %s = %d, %v; want %d", xattrDigest, n, err, len(testDigest))
	}
	n, err = unix.Listxattr(p, buf)
	if want := "user.greeting\x00" + xattrCached + "\x00" + xattrPinned + "\x00"; err != nil || string(buf[:n]) != want {
		t.Errorf("listxattr = %q, %v; want %q", buf[:n], err, want)
	}
}
