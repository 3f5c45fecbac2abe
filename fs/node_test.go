package fs

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// testFS is the fixture's file system as go-fuse serves it, without a
// kernel: raw takes requests as the kernel sends them.
type testFS struct {
	raw  fuse.RawFileSystem
	root *gofs.Inode
}

// newTestTree builds the fixture's file system through go-fuse.
func newTestTree(t *testing.T, opts Options) (*fixture, *testFS) {
	t.Helper()
	f := newFixture(t)
	return f, serveFixture(f, opts)
}

// serveFixture builds f's file system through go-fuse.
func serveFixture(f *fixture, opts Options) *testFS {
	root := NewRoot(f.m, f, opts)
	raw := gofs.NewNodeFS(root, fsOptions(opts.withDefaults()))
	return &testFS{raw: raw, root: root.EmbeddedInode()}
}

// walk returns the inode at the slash-separated path p, looking it up one
// name at a time as the kernel does, through go-fuse's bridge, which
// registers each inode under its parent and merges hardlinks into one.
func walk(t *testing.T, fsys *testFS, p string) *gofs.Inode {
	t.Helper()
	n, id := fsys.root, uint64(fuse.FUSE_ROOT_ID)
	if p == "." {
		return n
	}
	for _, name := range strings.Split(p, "/") {
		var out fuse.EntryOut
		if st := fsys.raw.Lookup(nil, &fuse.InHeader{NodeId: id}, name, &out); !st.Ok() || out.NodeId == 0 {
			t.Fatalf("lookup %q in %q: %v, node %d", name, p, st, out.NodeId)
		}
		if n, id = n.GetChild(name), out.NodeId; n == nil {
			t.Fatalf("lookup of %q in %q left no child", name, p)
		}
	}
	return n
}

func getattr(t *testing.T, n *gofs.Inode) fuse.AttrOut {
	t.Helper()
	var out fuse.AttrOut
	if errno := n.Operations().(gofs.NodeGetattrer).Getattr(context.Background(), nil, &out); errno != 0 {
		t.Fatalf("Getattr: %v", errno)
	}
	return out
}

func TestGetattr(t *testing.T) {
	f, root := newTestTree(t, Options{CacheTimeout: 42 * time.Second})
	tests := []struct {
		path        string
		size, nlink uint64
		rdev        uint64
		uid, gid    uint32
	}{
		{".", dirSize, 3, 0, 0, 0}, // 2 + dir
		{"dir", dirSize, 3, 0, 1000, 100},
		{"dir/sub", dirSize, 2, 0, 0, 0},
		{"hello.txt", 13, 1, 0, 0, 0},
		{"empty", 0, 1, 0, 0, 0},
		{"suid", 10, 1, 0, 0, 0},
		{"dir/later.txt", 13, 2, 0, 33, 44},
		{"hardlink", 13, 2, 0, 33, 44},
		{"link", uint64(len("hello.txt")), 1, 0, 0, 0},
		{"fifo", 0, 1, 0, 0, 0},
		{"null", 0, 1, unix.Mkdev(1, 3), 0, 0},
		{"sda", 0, 1, unix.Mkdev(8, 0), 0, 6},
	}
	for _, tc := range tests {
		out := getattr(t, walk(t, root, tc.path))
		inode := f.m.Inode(f.index(t, tc.path))
		mtime := f.m.Entries[inode].Mtime
		a := out.Attr
		if got, want := a.Mode, f.wantMode(t, tc.path); got != want {
			t.Errorf("%s: mode %#o, want %#o", tc.path, got, want)
		}
		if got, want := a.Ino, uint64(inode)+1; got != want {
			t.Errorf("%s: ino %d, want %d", tc.path, got, want)
		}
		if a.Size != tc.size || uint64(a.Nlink) != tc.nlink || uint64(a.Rdev) != tc.rdev {
			t.Errorf("%s: size %d nlink %d rdev %#x, want %d %d %#x", tc.path, a.Size, a.Nlink, a.Rdev, tc.size, tc.nlink, tc.rdev)
		}
		if a.Uid != tc.uid || a.Gid != tc.gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", tc.path, a.Uid, a.Gid, tc.uid, tc.gid)
		}
		for _, tm := range []struct {
			name string
			sec  uint64
			nsec uint32
		}{{"mtime", a.Mtime, a.Mtimensec}, {"atime", a.Atime, a.Atimensec}, {"ctime", a.Ctime, a.Ctimensec}} {
			if got := int64(tm.sec)*1e9 + int64(tm.nsec); got != mtime {
				t.Errorf("%s: %s %d ns, want %d", tc.path, tm.name, got, mtime)
			}
		}
		if got, want := a.Blocks, (tc.size+511)/512; got != want || a.Blksize != blockSize {
			t.Errorf("%s: blocks %d blksize %d, want %d %d", tc.path, got, a.Blksize, want, blockSize)
		}
		if got := out.Timeout(); got != 42*time.Second {
			t.Errorf("%s: attr timeout %v, want 42s", tc.path, got)
		}
	}
}

func TestTree(t *testing.T) {
	f, root := newTestTree(t, Options{})
	if got, want := childNames(t, root.root), f.rootNames(); !slices.Equal(got, want) {
		t.Errorf("root children %q, want %q", got, want)
	}
	if got, want := childNames(t, walk(t, root, "dir")), []string{"later.txt", "sub"}; !slices.Equal(got, want) {
		t.Errorf("dir children %q, want %q", got, want)
	}
	if got := childNames(t, walk(t, root, "dir/sub")); len(got) != 0 {
		t.Errorf("empty dir children %q", got)
	}
	// The target is looked up after the hardlink, so go-fuse must find the
	// inode the hardlink made.
	hl, target := walk(t, root, "hardlink"), walk(t, root, "dir/later.txt")
	if hl != target {
		t.Errorf("hardlink and its target are different inodes")
	}
	for _, p := range []string{"hello.txt", "dir/sub", "null"} {
		if got, want := walk(t, root, p).StableAttr().Ino, uint64(f.index(t, p))+1; got != want {
			t.Errorf("%s: stable ino %d, want %d", p, got, want)
		}
	}
}

// childNames lists directory n through Readdir, sorted.
func childNames(t *testing.T, n *gofs.Inode) []string {
	t.Helper()
	var names []string
	for _, e := range readdir(t, n) {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	return names
}

func readdir(t *testing.T, n *gofs.Inode) []fuse.DirEntry {
	t.Helper()
	ds, errno := n.Operations().(gofs.NodeReaddirer).Readdir(context.Background())
	if errno != 0 {
		t.Fatalf("Readdir: %v", errno)
	}
	defer ds.Close()
	var ents []fuse.DirEntry
	for ds.HasNext() {
		e, errno := ds.Next()
		if errno != 0 {
			t.Fatalf("Readdir Next: %v", errno)
		}
		ents = append(ents, e)
	}
	return ents
}

// TestReaddir checks that a listing agrees with lookups, in manifest order,
// and that a stream can be rewound to any offset it handed out.
func TestReaddir(t *testing.T) {
	f, root := newTestTree(t, Options{})
	ents := readdir(t, root.root)
	var want []string
	for _, e := range f.m.Entries[1:] {
		if !strings.Contains(e.Path, "/") {
			want = append(want, e.Path)
		}
	}
	var got []string
	for k, e := range ents {
		got = append(got, e.Name)
		st := walk(t, root, e.Name).StableAttr()
		if e.Ino != st.Ino || e.Mode != st.Mode || e.Off != uint64(k+1) {
			t.Errorf("%s: listed ino %d mode %#o off %d; lookup gives ino %d mode %#o, want off %d",
				e.Name, e.Ino, e.Mode, e.Off, st.Ino, st.Mode, k+1)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("listing %q, want the manifest's order %q", got, want)
	}
	ds, _ := root.root.Operations().(gofs.NodeReaddirer).Readdir(context.Background())
	sd := ds.(gofs.FileSeekdirer)
	for _, off := range []int{3, 0, len(ents)} {
		if errno := sd.Seekdir(context.Background(), uint64(off)); errno != 0 {
			t.Fatalf("Seekdir(%d): %v", off, errno)
		}
		if off == len(ents) {
			if ds.HasNext() {
				t.Errorf("Seekdir to the end: entries remain")
			}
			continue
		}
		if e, _ := ds.Next(); e.Name != ents[off].Name {
			t.Errorf("after Seekdir(%d): %q, want %q", off, e.Name, ents[off].Name)
		}
	}
	if errno := sd.Seekdir(context.Background(), uint64(len(ents)+1)); errno != syscall.EINVAL {
		t.Errorf("Seekdir past the end: %v, want EINVAL", errno)
	}
}

func TestLookupMissing(t *testing.T) {
	_, root := newTestTree(t, Options{})
	for _, tc := range []struct{ dir, name string }{{".", "nope"}, {"dir", "hello.txt"}, {".", "dir/sub"}, {".", ""}} {
		var out fuse.EntryOut
		ch, errno := walk(t, root, tc.dir).Operations().(gofs.NodeLookuper).Lookup(context.Background(), tc.name, &out)
		if errno != syscall.ENOENT || ch != nil {
			t.Errorf("Lookup(%q) in %q = %v, %v; want ENOENT", tc.name, tc.dir, ch, errno)
		}
	}
}

func TestReadlink(t *testing.T) {
	_, root := newTestTree(t, Options{})
	got, errno := walk(t, root, "link").Operations().(gofs.NodeReadlinker).Readlink(context.Background())
	if errno != 0 || string(got) != "hello.txt" {
		t.Errorf("Readlink = %q, %v; want %q", got, errno, "hello.txt")
	}
}

func TestGetxattr(t *testing.T) {
	_, root := newTestTree(t, Options{})
	dir := walk(t, root, "dir").Operations().(gofs.NodeGetxattrer)
	tests := []struct {
		name, attr string
		destLen    int
		wantN      uint32
		wantErrno  syscall.Errno
		want       string
	}{
		{"size query", "user.a", 0, 7, 0, ""},
		{"exact buffer", "user.a", 7, 7, 0, "a value"},
		{"large buffer", "user.b", 100, 3, 0, "bee"},
		{"too small", "user.a", 3, 7, syscall.ERANGE, ""},
		{"empty value", "user.empty", 10, 0, 0, ""},
		{"absent", "user.nope", 10, 0, syscall.ENODATA, ""},
	}
	for _, tc := range tests {
		dest := make([]byte, tc.destLen)
		n, errno := dir.Getxattr(context.Background(), tc.attr, dest)
		if n != tc.wantN || errno != tc.wantErrno {
			t.Errorf("%s: Getxattr = %d, %v; want %d, %v", tc.name, n, errno, tc.wantN, tc.wantErrno)
			continue
		}
		if errno == 0 && tc.destLen > 0 && string(dest[:n]) != tc.want {
			t.Errorf("%s: value %q, want %q", tc.name, dest[:n], tc.want)
		}
	}
}

func TestListxattr(t *testing.T) {
	_, root := newTestTree(t, Options{})
	const want = "user.a\x00user.b\x00user.empty\x00"
	tests := []struct {
		name      string
		path      string
		destLen   int
		wantN     uint32
		wantErrno syscall.Errno
		want      string
	}{
		{"size query", "dir", 0, uint32(len(want)), 0, ""},
		{"sorted names", "dir", 64, uint32(len(want)), 0, want},
		{"too small", "dir", 5, uint32(len(want)), syscall.ERANGE, ""},
		{"no xattrs", "empty", 64, 0, 0, ""},
		{"hardlink shares its target's", "hardlink", 64, 12, 0, "user.shared\x00"},
	}
	for _, tc := range tests {
		dest := make([]byte, tc.destLen)
		n, errno := walk(t, root, tc.path).Operations().(gofs.NodeListxattrer).Listxattr(context.Background(), dest)
		if n != tc.wantN || errno != tc.wantErrno {
			t.Errorf("%s: Listxattr = %d, %v; want %d, %v", tc.name, n, errno, tc.wantN, tc.wantErrno)
			continue
		}
		if errno == 0 && tc.destLen > 0 && string(dest[:n]) != tc.want {
			t.Errorf("%s: names %q, want %q", tc.name, dest[:n], tc.want)
		}
	}
}

func TestOpen(t *testing.T) {
	_, root := newTestTree(t, Options{})
	file := walk(t, root, "hello.txt").Operations().(gofs.NodeOpener)
	tests := []struct {
		name      string
		flags     uint32
		wantErrno syscall.Errno
	}{
		// ENOSYS: the kernel opens files without asking from then on
		// (FUSE_NO_OPEN_SUPPORT), and keeps their pages across opens.
		{"read only", syscall.O_RDONLY, syscall.ENOSYS},
		{"read only, no atime", syscall.O_RDONLY | syscall.O_NOATIME, syscall.ENOSYS},
		{"write only", syscall.O_WRONLY, syscall.EROFS},
		{"read write", syscall.O_RDWR, syscall.EROFS},
		{"append", syscall.O_WRONLY | syscall.O_APPEND, syscall.EROFS},
		{"truncate", syscall.O_RDONLY | syscall.O_TRUNC, syscall.EROFS},
	}
	for _, tc := range tests {
		fh, fuseFlags, errno := file.Open(context.Background(), tc.flags)
		if errno != tc.wantErrno || fh != nil {
			t.Errorf("%s: Open = %v, %v; want no handle, %v", tc.name, fh, errno, tc.wantErrno)
		}
		if fuseFlags != 0 {
			t.Errorf("%s: Open flags %#x, want none", tc.name, fuseFlags)
		}
	}
}

func read(t *testing.T, n *gofs.Inode, off int64, size int) ([]byte, syscall.Errno) {
	t.Helper()
	return readCtx(t, context.Background(), n, off, size)
}

func readCtx(t *testing.T, ctx context.Context, n *gofs.Inode, off int64, size int) ([]byte, syscall.Errno) {
	t.Helper()
	res, errno := n.Operations().(gofs.NodeReader).Read(ctx, nil, make([]byte, size), off)
	if errno != 0 {
		return nil, errno
	}
	b, status := res.Bytes(make([]byte, size))
	if !status.Ok() {
		t.Fatalf("ReadResult.Bytes: %v", status)
	}
	return b, 0
}

func TestReadClampsAtEOF(t *testing.T) {
	f, root := newTestTree(t, Options{})
	big := f.content["big.bin"]
	size := int64(len(big))
	tests := []struct {
		name string
		path string
		off  int64
		n    int
		want []byte
	}{
		{"whole small file", "hello.txt", 0, 4096, []byte("hello, world\n")},
		{"inside", "big.bin", 100, 50, big[100:150]},
		{"across a piece boundary", "big.bin", testPieceSize - 10, 20, big[testPieceSize-10 : testPieceSize+10]},
		{"crossing the end", "big.bin", size - 5, 100, big[size-5:]},
		{"ending exactly at the end", "big.bin", size - 5, 5, big[size-5:]},
		{"at the end", "big.bin", size, 100, nil},
		{"past the end", "big.bin", size + 4096, 100, nil},
		{"empty file", "empty", 0, 100, nil},
		{"zero-length read", "hello.txt", 0, 0, nil},
	}
	for _, tc := range tests {
		got, errno := read(t, walk(t, root, tc.path), tc.off, tc.n)
		if errno != 0 || !bytes.Equal(got, tc.want) {
			t.Errorf("%s: Read(%d, %d) = %q, %v; want %q", tc.name, tc.off, tc.n, got, errno, tc.want)
		}
	}
	if _, errno := read(t, walk(t, root, "big.bin"), -1, 10); errno != syscall.EINVAL {
		t.Errorf("negative offset: errno %v, want EINVAL", errno)
	}
}

func TestFullRead(t *testing.T) {
	tests := []struct {
		name    string
		n, want int
		err     error
		wantErr bool
	}{
		{"complete", 10, 10, nil, false},
		{"complete with EOF", 10, 10, io.EOF, false},
		{"short with EOF", 5, 10, io.EOF, true},
		{"short without error", 5, 10, nil, true},
		{"error", 10, 10, errUnavailable, true},
	}
	for _, tc := range tests {
		if err := fullRead(tc.n, tc.want, tc.err); (err != nil) != tc.wantErr {
			t.Errorf("%s: fullRead(%d, %d, %v) = %v; want error %v", tc.name, tc.n, tc.want, tc.err, err, tc.wantErr)
		}
	}
}

func TestReadOnlyOps(t *testing.T) {
	_, root := newTestTree(t, Options{})
	ctx := context.Background()
	dir := walk(t, root, "dir").Operations()
	file := walk(t, root, "hello.txt").Operations()
	var out fuse.EntryOut
	tests := []struct {
		name  string
		errno func() syscall.Errno
	}{
		{"setattr", func() syscall.Errno {
			return file.(gofs.NodeSetattrer).Setattr(ctx, nil, &fuse.SetAttrIn{}, &fuse.AttrOut{})
		}},
		{"setxattr", func() syscall.Errno { return file.(gofs.NodeSetxattrer).Setxattr(ctx, "user.x", nil, 0) }},
		{"removexattr", func() syscall.Errno { return file.(gofs.NodeRemovexattrer).Removexattr(ctx, "user.greeting") }},
		{"create", func() syscall.Errno {
			_, _, _, e := dir.(gofs.NodeCreater).Create(ctx, "x", syscall.O_WRONLY, 0644, &out)
			return e
		}},
		{"tmpfile", func() syscall.Errno {
			_, _, _, e := dir.(gofs.NodeTmpfiler).Tmpfile(ctx, syscall.O_WRONLY, 0644, &out)
			return e
		}},
		{"mkdir", func() syscall.Errno { _, e := dir.(gofs.NodeMkdirer).Mkdir(ctx, "x", 0755, &out); return e }},
		{"mknod", func() syscall.Errno {
			_, e := dir.(gofs.NodeMknoder).Mknod(ctx, "x", syscall.S_IFIFO, 0, &out)
			return e
		}},
		{"link", func() syscall.Errno { _, e := dir.(gofs.NodeLinker).Link(ctx, file, "x", &out); return e }},
		{"symlink", func() syscall.Errno { _, e := dir.(gofs.NodeSymlinker).Symlink(ctx, "t", "x", &out); return e }},
		{"unlink", func() syscall.Errno { return dir.(gofs.NodeUnlinker).Unlink(ctx, "later.txt") }},
		{"rmdir", func() syscall.Errno { return dir.(gofs.NodeRmdirer).Rmdir(ctx, "sub") }},
		{"rename", func() syscall.Errno { return dir.(gofs.NodeRenamer).Rename(ctx, "later.txt", dir, "y", 0) }},
	}
	for _, tc := range tests {
		if got := tc.errno(); got != syscall.EROFS {
			t.Errorf("%s: errno %v, want EROFS", tc.name, got)
		}
	}
}

func TestStatfs(t *testing.T) {
	f, root := newTestTree(t, Options{})
	var total uint64
	for _, b := range f.content {
		total += uint64(len(b))
	}
	var out fuse.StatfsOut
	if errno := walk(t, root, "dir/sub").Operations().(gofs.NodeStatfser).Statfs(context.Background(), &out); errno != 0 {
		t.Fatalf("Statfs: %v", errno)
	}
	want := fuse.StatfsOut{Blocks: (total + 4095) / 4096, Files: uint64(len(f.m.Entries)), Bsize: 4096, Frsize: 4096, NameLen: 255}
	if out != want {
		t.Errorf("Statfs = %+v, want %+v", out, want)
	}
}
