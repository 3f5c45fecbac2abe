package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// pieceSize is the piece size the shared tree is published with.
const pieceSize = 1 << 20

// bigSize is the size of the big file: hundreds of pieces.
const bigSize = 300 << 20

// xattrName is the user xattr the tree carries.
const xattrName = "user.piecefs.test"

// tree is a generated source tree and what a mount of it must show.
type tree struct {
	root      string
	big       string            // path of the big file, relative to root
	hashes    map[string]string // regular file (relative, slash-separated) → sha256 hex
	small     []string          // the small files, in generation order
	symlinks  map[string]string // symlink → target
	hardlinks [][]string        // the names of each multiply-linked inode
	xattrs    map[string]string // entry → value of xattrName
	fifo      string
	devices   []string // char and block devices; empty if mknod is refused
	emptyDir  string
}

// generator writes a tree. Its random sources are seeded, so every run
// produces the same bytes.
type generator struct {
	t     *tree
	bytes *rand.ChaCha8 // file contents
	rng   *rand.Rand    // sizes
}

// generateTree writes the shared tree under root, which must exist.
func generateTree(root string) (*tree, error) {
	g := &generator{
		t: &tree{
			root:     root,
			hashes:   map[string]string{},
			symlinks: map[string]string{},
			xattrs:   map[string]string{},
		},
		bytes: rand.NewChaCha8([32]byte{'p', 'i', 'e', 'c', 'e', 'f', 's'}),
		rng:   rand.New(rand.NewPCG(1, 2)),
	}
	steps := []func() error{
		g.bigFile, g.sizeFiles, g.smallFiles, g.symlinks, g.hardlinks,
		g.modes, g.owner, g.xattrs, g.specials, g.unicode, g.empty,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return g.t, setMtimes(root)
}

func (g *generator) path(rel string) string { return filepath.Join(g.t.root, filepath.FromSlash(rel)) }

// file writes size random bytes to rel and records their hash.
func (g *generator) file(rel string, size int64, mode uint32) error {
	if err := os.MkdirAll(filepath.Dir(g.path(rel)), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(g.path(rel), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.CopyN(io.MultiWriter(f, h), g.bytes, size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", rel, err)
	}
	g.t.hashes[rel] = hex.EncodeToString(h.Sum(nil))
	// unix.Chmod, not os.Chmod: os.FileMode keeps setuid apart from 07777.
	return unix.Chmod(g.path(rel), mode)
}

func (g *generator) bigFile() error {
	g.t.big = "big.bin"
	return g.file(g.t.big, bigSize, 0o644)
}

// sizeFiles are the sizes where piece arithmetic goes wrong. A slice, not
// a map: the order decides which random bytes each file gets.
func (g *generator) sizeFiles() error {
	sizes := []struct {
		name string
		size int64
	}{
		{"zero", 0}, {"one", 1}, {"piece-1", pieceSize - 1}, {"piece", pieceSize},
		{"piece+1", pieceSize + 1}, {"3piece+17", 3*pieceSize + 17},
	}
	for _, s := range sizes {
		if err := g.file("sizes/"+s.name, s.size, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// smallFiles spreads a thousand files of 1 B to 64 KiB over directories
// three to five levels deep.
func (g *generator) smallFiles() error {
	for i := range 1000 {
		dir := fmt.Sprintf("small/a%d/b%d/c%d", i%4, i/4%4, i/16%4)
		if i%97 == 0 {
			dir += "/deeper/deepest"
		}
		rel := fmt.Sprintf("%s/f%04d.dat", dir, i)
		if err := g.file(rel, 1+g.rng.Int64N(64<<10), 0o644); err != nil {
			return err
		}
		g.t.small = append(g.t.small, rel)
	}
	return nil
}

func (g *generator) symlinks() error {
	links := map[string]string{
		"links/relative": "../sizes/one",
		"links/absolute": "/etc/hostname",
		"links/dangling": "does/not/exist",
		"links/dir":      "../small",
	}
	if err := os.MkdirAll(g.path("links"), 0o755); err != nil {
		return err
	}
	for name, target := range links {
		if err := os.Symlink(target, g.path(name)); err != nil {
			return err
		}
		g.t.symlinks[name] = target
	}
	return nil
}

// hardlinks makes a pair and a triple.
func (g *generator) hardlinks() error {
	groups := [][]string{{"hard/pair-a", "hard/pair-b"}, {"hard/triple-x", "hard/triple-y", "hard/triple-z"}}
	for _, names := range groups {
		if err := g.file(names[0], 3000+g.rng.Int64N(3000), 0o640); err != nil {
			return err
		}
		for _, name := range names[1:] {
			if err := os.Link(g.path(names[0]), g.path(name)); err != nil {
				return err
			}
			g.t.hashes[name] = g.t.hashes[names[0]]
		}
	}
	g.t.hardlinks = groups
	return nil
}

// modes makes a setuid file, a sticky directory and a setgid directory.
func (g *generator) modes() error {
	if err := g.file("modes/setuid", 100, 0o4755); err != nil {
		return err
	}
	for _, dir := range []string{"modes/sticky", "modes/setgid"} {
		if err := os.Mkdir(g.path(dir), 0o755); err != nil {
			return err
		}
		if err := g.file(dir+"/inside", 10, 0o600); err != nil {
			return err
		}
	}
	if err := unix.Chmod(g.path("modes/sticky"), 0o1777); err != nil {
		return err
	}
	return unix.Chmod(g.path("modes/setgid"), 0o2755)
}

// owner makes a file and a directory owned by 1234:5678.
func (g *generator) owner() error {
	if err := g.file("owned/file", 200, 0o640); err != nil {
		return err
	}
	for _, rel := range []string{"owned/file", "owned"} {
		if err := os.Lchown(g.path(rel), 1234, 5678); err != nil {
			return fmt.Errorf("chown %s (the tests must run as root): %w", rel, err)
		}
	}
	return nil
}

func (g *generator) xattrs() error {
	if err := g.file("xattr/file", 50, 0o644); err != nil {
		return err
	}
	values := map[string]string{"xattr/file": "piecefs ✓ value", "xattr": "on a directory"}
	for rel, v := range values {
		if err := unix.Setxattr(g.path(rel), xattrName, []byte(v), 0); err != nil {
			return fmt.Errorf("setxattr %s: %w", rel, err)
		}
		g.t.xattrs[rel] = v
	}
	return nil
}

// specials makes a fifo and, where mknod is allowed, a char and a block
// device.
func (g *generator) specials() error {
	if err := os.MkdirAll(g.path("special"), 0o755); err != nil {
		return err
	}
	g.t.fifo = "special/fifo"
	if err := unix.Mkfifo(g.path(g.t.fifo), 0o640); err != nil {
		return fmt.Errorf("mkfifo: %w", err)
	}
	devices := []struct {
		name string
		mode uint32
		dev  uint64
	}{
		{"special/char", unix.S_IFCHR | 0o620, unix.Mkdev(1, 7)},
		{"special/block", unix.S_IFBLK | 0o660, unix.Mkdev(7, 200)},
	}
	for _, d := range devices {
		err := unix.Mknod(g.path(d.name), d.mode, int(d.dev))
		if errors.Is(err, unix.EPERM) {
			continue // a container without CAP_MKNOD: no device checks
		}
		if err != nil {
			return fmt.Errorf("mknod %s: %w", d.name, err)
		}
		g.t.devices = append(g.t.devices, d.name)
	}
	return nil
}

func (g *generator) unicode() error {
	for _, rel := range []string{"ñandú/日本語.txt", "emoji-🙂"} {
		if err := g.file(rel, 333, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (g *generator) empty() error {
	g.t.emptyDir = "empty"
	return os.Mkdir(g.path(g.t.emptyDir), 0o755)
}

// setMtimes gives every entry, the root included, a distinct mtime with
// nanoseconds. Children come before their parents, since creating entries
// would move a directory's mtime.
func setMtimes(root string) error {
	names, err := sourceNames(root)
	if err != nil {
		return err
	}
	names = append([]string{"."}, names...)
	slices.Reverse(names)
	base := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	for i, rel := range names {
		mt := base.Add(time.Duration(i)*time.Hour + time.Duration(i*7919+1)*time.Nanosecond)
		ts := []unix.Timespec{unix.NsecToTimespec(mt.UnixNano()), unix.NsecToTimespec(mt.UnixNano())}
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set mtime of %s: %w", rel, err)
		}
	}
	return nil
}

// sourceNames lists every entry under root but root itself, relative and
// slash-separated, in lexical walk order.
func sourceNames(root string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, err := filepath.Rel(root, p)
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	return names, err
}
