package publish

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/meta"
)

// walker is the directory source: it walks a tree on disk and hands its
// entries, with their contents, to emit (the packer) in manifest order.
//
// It works from open directories (openat, fstatat) rather than paths, and
// opens what it reads without following symlinks, so an entry swapped for
// a symlink or another file while the walk runs is refused rather than
// followed out of the tree (see openChecked).
type walker struct {
	ctx   context.Context
	root  string
	opts  Options
	emit  AddFunc
	links map[fileID]string // first path seen of a multiply-linked inode
}

type fileID struct{ dev, ino uint64 }

// child is a name listed in a directory being walked, with its lstat.
type child struct {
	name string // in its directory
	rel  string // from the root, as in the manifest
	st   unix.Stat_t
}

func walkTree(ctx context.Context, root string, emit AddFunc, opts Options) error {
	w := &walker{ctx: ctx, root: root, opts: opts, emit: emit, links: make(map[fileID]string)}
	c := child{name: root, rel: "."}
	if err := unix.Lstat(root, &c.st); err != nil {
		return fmt.Errorf("publish: lstat %s: %w", root, err)
	}
	if c.st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("publish: %s is not a directory", root)
	}
	return w.dir(unix.AT_FDCWD, c)
}

// full is rel's path on disk, for messages.
func (w *walker) full(rel string) string { return filepath.Join(w.root, rel) }

// dir adds directory c of dirfd and everything under it.
func (w *walker) dir(dirfd int, c child) error {
	f, err := w.addDir(dirfd, c)
	if err != nil {
		return fmt.Errorf("publish: %s: %w", w.full(c.rel), err)
	}
	defer f.Close()
	return w.walk(f, c.rel)
}

// addDir opens directory c of dirfd and adds its entry.
func (w *walker) addDir(dirfd int, c child) (*os.File, error) {
	f, st, err := openChecked(dirfd, c, unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	e, _ := entryOf(c.rel, st)
	if e.Xattrs, err = fdXattrs(int(f.Fd())).read(); err == nil {
		err = w.emit(e, nil)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// walk lists d's non-directories before recursing into its directories,
// so the files of one directory land next to each other in the packs.
func (w *walker) walk(d *os.File, rel string) error {
	names, err := d.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("publish: %s: %w", w.full(rel), err)
	}
	slices.Sort(names) // a stable order makes the same tree build the same manifest
	dirfd := int(d.Fd())
	var subdirs []child
	for _, name := range names {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		c := child{name: name, rel: path.Join(rel, name)}
		if err := unix.Fstatat(dirfd, name, &c.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("publish: lstat %s: %w", w.full(c.rel), err)
		}
		if c.st.Mode&unix.S_IFMT == unix.S_IFDIR {
			subdirs = append(subdirs, c)
			continue
		}
		if err := w.add(dirfd, c); err != nil {
			return err
		}
	}
	for _, c := range subdirs {
		if err := w.dir(dirfd, c); err != nil {
			return err
		}
	}
	return nil
}

// add adds the non-directory c of dirfd.
func (w *walker) add(dirfd int, c child) error {
	// Left-out types are decided before hardlinks: every name of an inode
	// has its type, so every name of a socket is left out, and no hardlink
	// can point at a name that is not in the manifest.
	e, ok := entryOf(c.rel, &c.st)
	if !ok {
		w.opts.warn(c.rel, "socket or unknown file type: left out")
		return nil
	}
	if first, seen := w.firstName(c); seen {
		return w.emit(meta.Entry{Path: c.rel, Kind: meta.KindHardlink, Target: first}, nil)
	}
	var err error
	switch e.Kind {
	case meta.KindFile:
		err = w.addFile(dirfd, c)
	case meta.KindSymlink:
		err = w.addSymlink(dirfd, c, e)
	default: // devices and fifos: metadata only, never opened
		if e.Xattrs, err = pathXattrs(w.full(c.rel)).read(); err == nil {
			err = w.emit(e, nil)
		}
	}
	if err != nil {
		return fmt.Errorf("publish: %s: %w", w.full(c.rel), err)
	}
	return nil
}

// firstName remembers the first name of every multiply-linked inode, and
// returns it when c is a later name of one.
func (w *walker) firstName(c child) (string, bool) {
	if c.st.Nlink < 2 {
		return "", false
	}
	id := fileID{uint64(c.st.Dev), uint64(c.st.Ino)}
	if first, seen := w.links[id]; seen {
		return first, true
	}
	w.links[id] = c.rel
	return "", false
}

func (w *walker) addFile(dirfd int, c child) error {
	f, st, err := openChecked(dirfd, c, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	e, _ := entryOf(c.rel, st)
	if e.Xattrs, err = fdXattrs(int(f.Fd())).read(); err != nil {
		return err
	}
	if err := w.emit(e, f); err != nil {
		return err
	}
	return unchanged(f, st)
}

func (w *walker) addSymlink(dirfd int, c child, e meta.Entry) error {
	buf := make([]byte, meta.MaxPathLen+1)
	n, err := unix.Readlinkat(dirfd, c.name, buf)
	if err != nil {
		return fmt.Errorf("readlink: %w", err)
	}
	e.Target = string(buf[:n]) // one too long fails the manifest's validation
	return w.emit(e, nil)
}
