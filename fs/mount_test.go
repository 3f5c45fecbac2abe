package fs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"

	"golang.org/x/sys/unix"
)

// mountFixture mounts the fixture on a fresh directory and unmounts it when
// the test ends.
func mountFixture(t *testing.T) (*fixture, string) {
	t.Helper()
	return mountFixtureWith(t, Options{})
}

// mountFixtureWith is mountFixture with opts.
func mountFixtureWith(t *testing.T, opts Options) (*fixture, string) {
	t.Helper()
	requireFUSE(t)
	f := newFixture(t)
	mnt := t.TempDir()
	srv, err := Mount(mnt, f.m, f, opts)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
		}
	})
	return f, mnt
}

func TestMount(t *testing.T) {
	f, mnt := mountFixture(t)
	checks := map[string]func(t *testing.T, f *fixture, mnt string){
		"stat":           checkStat,
		"hardlink":       checkHardlink,
		"readdir":        checkReaddir,
		"readlink":       checkReadlink,
		"xattrs":         checkXattrs,
		"read":           checkRead,
		"read past EOF":  checkReadPastEOF,
		"reader failure": checkReaderFailure,
		"read-only":      checkReadOnly,
		"statfs":         checkStatfs,
	}
	for name, check := range checks {
		t.Run(name, func(t *testing.T) { check(t, f, mnt) })
	}
}

func lstat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatalf("lstat: %v", err)
	}
	return &st
}

func checkStat(t *testing.T, f *fixture, mnt string) {
	for _, e := range f.m.Entries {
		st := lstat(t, filepath.Join(mnt, e.Path))
		i := f.m.Inode(f.index(t, e.Path))
		in := &f.m.Entries[i]
		if got, want := st.Mode, f.wantMode(t, e.Path); got != want {
			t.Errorf("%s: mode %#o, want %#o", e.Path, got, want)
		}
		if st.Uid != in.UID || st.Gid != in.GID {
			t.Errorf("%s: owner %d:%d, want %d:%d", e.Path, st.Uid, st.Gid, in.UID, in.GID)
		}
		if got := st.Mtim.Sec*1e9 + st.Mtim.Nsec; got != in.Mtime {
			t.Errorf("%s: mtime %d ns, want %d", e.Path, got, in.Mtime)
		}
		if got, want := st.Nlink, uint64(f.m.Nlink(i)); got != want {
			t.Errorf("%s: nlink %d, want %d", e.Path, got, want)
		}
		if got, want := st.Ino, uint64(i)+1; got != want {
			t.Errorf("%s: ino %d, want %d", e.Path, got, want)
		}
		if got, want := st.Rdev, unix.Mkdev(in.DevMajor, in.DevMinor); got != want {
			t.Errorf("%s: rdev %#x, want %#x", e.Path, got, want)
		}
		if got, want := st.Size, int64(attrSize(in)); got != want {
			t.Errorf("%s: size %d, want %d", e.Path, got, want)
		}
	}
}

func checkHardlink(t *testing.T, f *fixture, mnt string) {
	a, b := lstat(t, filepath.Join(mnt, "hardlink")), lstat(t, filepath.Join(mnt, "dir/later.txt"))
	if a.Ino != b.Ino || a.Nlink != 2 || b.Nlink != 2 {
		t.Errorf("hardlink ino %d nlink %d, target ino %d nlink %d; want one inode with 2 links", a.Ino, a.Nlink, b.Ino, b.Nlink)
	}
	got, err := os.ReadFile(filepath.Join(mnt, "hardlink"))
	if err != nil || string(got) != "linked twice\n" {
		t.Errorf("read hardlink = %q, %v", got, err)
	}
}

func checkReaddir(t *testing.T, f *fixture, mnt string) {
	ents, err := os.ReadDir(mnt)
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	var names []string
	types := map[string]os.FileMode{}
	for _, e := range ents {
		names = append(names, e.Name())
		types[e.Name()] = e.Type()
	}
	if want := f.rootNames(); !slices.Equal(names, want) {
		t.Errorf("ReadDir names %q, want %q", names, want)
	}
	wantTypes := map[string]os.FileMode{
		"dir": os.ModeDir, "hello.txt": 0, "link": os.ModeSymlink, "fifo": os.ModeNamedPipe,
		"null": os.ModeDevice | os.ModeCharDevice, "sda": os.ModeDevice, "hardlink": 0,
	}
	for name, want := range wantTypes {
		if got := types[name]; got != want {
			t.Errorf("ReadDir type of %s = %v, want %v", name, got, want)
		}
	}
}

func checkReadlink(t *testing.T, f *fixture, mnt string) {
	got, err := os.Readlink(filepath.Join(mnt, "link"))
	if err != nil || got != "hello.txt" {
		t.Errorf("Readlink = %q, %v; want hello.txt", got, err)
	}
}

func checkXattrs(t *testing.T, f *fixture, mnt string) {
	dir := filepath.Join(mnt, "dir")
	n, err := unix.Getxattr(dir, "user.a", nil)
	if err != nil || n != len("a value") {
		t.Errorf("size query = %d, %v; want %d", n, err, len("a value"))
	}
	buf := make([]byte, 64)
	n, err = unix.Getxattr(dir, "user.a", buf)
	if err != nil || string(buf[:n]) != "a value" {
		t.Errorf("Getxattr = %q, %v", buf[:n], err)
	}
	if _, err := unix.Getxattr(dir, "user.a", make([]byte, 2)); !errors.Is(err, syscall.ERANGE) {
		t.Errorf("small buffer: %v, want ERANGE", err)
	}
	if _, err := unix.Getxattr(dir, "user.missing", buf); !errors.Is(err, syscall.ENODATA) {
		t.Errorf("missing: %v, want ENODATA", err)
	}
	n, err = unix.Listxattr(dir, buf)
	if want := "user.a\x00user.b\x00user.empty\x00"; err != nil || string(buf[:n]) != want {
		t.Errorf("Listxattr = %q, %v; want %q", buf[:n], err, want)
	}
	n, err = unix.Getxattr(filepath.Join(mnt, "hardlink"), "user.shared", buf)
	if err != nil || string(buf[:n]) != "yes" {
		t.Errorf("hardlink Getxattr = %q, %v; want its target's", buf[:n], err)
	}
}

func checkRead(t *testing.T, f *fixture, mnt string) {
	for p, want := range f.content {
		if p == "broken.bin" || p == "short.bin" {
			continue
		}
		got, err := os.ReadFile(filepath.Join(mnt, p))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: read %d bytes, %v; want %d bytes equal to the content", p, len(got), err, len(want))
		}
	}
}

func checkReadPastEOF(t *testing.T, f *fixture, mnt string) {
	file, err := os.Open(filepath.Join(mnt, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	big := f.content["big.bin"]
	size := int64(len(big))
	buf := make([]byte, 100)
	for _, off := range []int64{size, size + 1, size + 1<<20} {
		if n, err := file.ReadAt(buf, off); n != 0 || err != io.EOF {
			t.Errorf("ReadAt(%d) = %d, %v; want 0, EOF", off, n, err)
		}
	}
	n, err := file.ReadAt(buf, size-7)
	if n != 7 || err != io.EOF || !bytes.Equal(buf[:n], big[size-7:]) {
		t.Errorf("ReadAt across the end = %d %q, %v; want the last 7 bytes, EOF", n, buf[:n], err)
	}
}

func checkReaderFailure(t *testing.T, f *fixture, mnt string) {
	for _, p := range []string{"broken.bin", "short.bin"} {
		if _, err := os.ReadFile(filepath.Join(mnt, p)); !errors.Is(err, syscall.EIO) {
			t.Errorf("%s: read error %v, want EIO", p, err)
		}
	}
}

func checkReadOnly(t *testing.T, f *fixture, mnt string) {
	at := func(p string) string { return filepath.Join(mnt, p) }
	tests := map[string]func() error{
		"open for writing": func() error { return openClose(at("hello.txt"), os.O_WRONLY) },
		"open read-write":  func() error { return openClose(at("hello.txt"), os.O_RDWR) },
		"create":           func() error { return openClose(at("dir/new"), os.O_CREATE|os.O_WRONLY) },
		"mkdir":            func() error { return os.Mkdir(at("dir/newdir"), 0755) },
		"chmod":            func() error { return os.Chmod(at("hello.txt"), 0600) },
		"chown":            func() error { return os.Lchown(at("hello.txt"), 1, 1) },
		"truncate":         func() error { return os.Truncate(at("hello.txt"), 0) },
		"setxattr":         func() error { return unix.Setxattr(at("hello.txt"), "user.x", []byte("y"), 0) },
		"removexattr":      func() error { return unix.Removexattr(at("hello.txt"), "user.greeting") },
		"rename":           func() error { return os.Rename(at("hello.txt"), at("dir/moved")) },
		"remove":           func() error { return os.Remove(at("hello.txt")) },
		"rmdir":            func() error { return os.Remove(at("dir/sub")) },
		"symlink":          func() error { return os.Symlink("t", at("dir/newlink")) },
		"link":             func() error { return os.Link(at("hello.txt"), at("dir/newhard")) },
		"mkfifo":           func() error { return syscall.Mkfifo(at("dir/newfifo"), 0644) },
	}
	for name, op := range tests {
		if err := op(); !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: %v, want EROFS", name, err)
		}
	}
	if got, err := os.ReadFile(at("hello.txt")); err != nil || string(got) != "hello, world\n" {
		t.Errorf("hello.txt after the attempts = %q, %v", got, err)
	}
}

func openClose(p string, flag int) error {
	file, err := os.OpenFile(p, flag, 0644)
	if err != nil {
		return err
	}
	return file.Close()
}

func checkStatfs(t *testing.T, f *fixture, mnt string) {
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil {
		t.Fatalf("statfs: %v", err)
	}
	var total int64
	for _, b := range f.content {
		total += int64(len(b))
	}
	if st.Bsize != 4096 || st.Blocks != uint64(total+4095)/4096 || st.Bfree != 0 || st.Files != uint64(len(f.m.Entries)) {
		t.Errorf("statfs bsize %d blocks %d bfree %d files %d; want 4096 %d 0 %d",
			st.Bsize, st.Blocks, st.Bfree, st.Files, (total+4095)/4096, len(f.m.Entries))
	}
	if st.Flags&unix.ST_RDONLY == 0 {
		t.Errorf("statfs flags %#x: not read-only", st.Flags)
	}
}

// TestSymlinkCached checks that the kernel keeps a link's target: reading
// it again, through a new lookup too, asks the server nothing.
func TestSymlinkCached(t *testing.T) {
	reqs, mnt := mountTraced(t)
	for range 3 {
		checkReadlink(t, nil, mnt)
		if _, err := os.Stat(filepath.Join(mnt, "link")); err != nil { // follows it
			t.Fatal(err)
		}
	}
	if n := reqs.count(": READLINK "); n != 1 {
		t.Errorf("the server was asked for the link's target %d times; want once", n)
	}
}

// TestCloseNotFlushed checks that closing files costs no request after the
// first FLUSH, which Flush answers ENOSYS so that the kernel stops asking.
func TestCloseNotFlushed(t *testing.T) {
	reqs, mnt := mountTraced(t)
	readClose := func() {
		t.Helper()
		f, err := os.Open(filepath.Join(mnt, "hello.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Read(make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
	}
	// go-fuse's own probe at mount (its poll workaround) is flushed too,
	// and answered by go-fuse: count from the first of the file's.
	readClose()
	first := reqs.count(": FLUSH ")
	if first == 0 {
		t.Fatal("the first close sent no FLUSH: the kernel did not ask, so this test checks nothing")
	}
	for range 4 {
		readClose()
	}
	if n := reqs.count(": FLUSH ") - first; n != 0 {
		t.Errorf("4 more closes sent %d FLUSH requests; want none after the first was answered ENOSYS", n)
	}
}

// mountTraced mounts the fixture with every request traced into the
// returned hook.
func mountTraced(t *testing.T) (*countingHook, string) {
	log := logrus.New()
	reqs := &countingHook{}
	log.AddHook(reqs)
	log.Out = io.Discard
	_, mnt := mountFixtureWith(t, Options{Log: log, Debug: true})
	return reqs, mnt
}

// countingHook counts go-fuse's request traces that contain a string.
type countingHook struct {
	mu    sync.Mutex
	lines []string
}

func (h *countingHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *countingHook) Fire(e *logrus.Entry) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines = append(h.lines, e.Message)
	return nil
}

func (h *countingHook) count(s string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, l := range h.lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}
