package publish

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"github.com/piecefs/piecefs/meta"
)

// walker is the directory source: it walks a tree on disk and hands its
// entries, with their contents, to the packer in manifest order.
type walker struct {
	ctx   context.Context
	root  string
	opts  Options
	pack  *packer
	links map[fileID]string // first path seen of a multiply-linked inode
}

type fileID struct{ dev, ino uint64 }

func walkTree(ctx context.Context, root string, p *packer, opts Options) error {
	w := &walker{ctx: ctx, root: root, opts: opts, pack: p, links: make(map[fileID]string)}
	fi, err := os.Lstat(root)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("publish: %s is not a directory", root)
	}
	if err := w.addEntry(".", fi); err != nil {
		return err
	}
	return w.walk(".")
}

// walk lists dir's non-directories before recursing into its directories,
// so the files of one directory land next to each other in the packs.
func (w *walker) walk(dir string) error {
	ents, err := os.ReadDir(filepath.Join(w.root, dir))
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	var subdirs []string
	for _, de := range ents {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		p := path.Join(dir, de.Name())
		fi, err := os.Lstat(filepath.Join(w.root, p))
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if fi.IsDir() {
			subdirs = append(subdirs, p)
			continue
		}
		if err := w.addEntry(p, fi); err != nil {
			return err
		}
	}
	for _, p := range subdirs {
		fi, err := os.Lstat(filepath.Join(w.root, p))
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if err := w.addEntry(p, fi); err != nil {
			return err
		}
		if err := w.walk(p); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) addEntry(p string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("publish: %s: no stat information", p)
	}
	full := filepath.Join(w.root, p)
	// Left-out types are decided before hardlinks: every name of an inode
	// has its type, so every name of a socket is left out, and no hardlink
	// can point at a name that is not in the manifest.
	e, ok := entryOf(p, st)
	if !ok {
		w.opts.warn(p, "socket or unknown file type: left out")
		return nil
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR && st.Nlink > 1 {
		id := fileID{uint64(st.Dev), st.Ino}
		if first, seen := w.links[id]; seen {
			return w.pack.add(meta.Entry{Path: p, Kind: meta.KindHardlink, Target: first}, nil)
		}
		w.links[id] = p
	}
	if err := w.describe(&e, full); err != nil {
		return fmt.Errorf("publish: %s: %w", p, err)
	}
	if e.Kind != meta.KindFile {
		return w.pack.add(e, nil)
	}
	if err := w.addContent(e, full, fi); err != nil {
		return fmt.Errorf("publish: %s: %w", p, err)
	}
	return nil
}

// describe fills in what entryOf cannot read from a stat: a symlink's
// target and the extended attributes.
func (w *walker) describe(e *meta.Entry, full string) error {
	if e.Kind == meta.KindSymlink {
		t, err := os.Readlink(full)
		if err != nil {
			return err
		}
		e.Target = t
		return nil
	}
	x, err := readXattrs(full)
	if err != nil {
		return err
	}
	e.Xattrs = x
	return nil
}

func (w *walker) addContent(e meta.Entry, full string, before os.FileInfo) error {
	f, err := os.Open(full)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := w.pack.add(e, f); err != nil {
		return err
	}
	after, err := f.Stat()
	if err != nil {
		return err
	}
	if after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		return errChanged
	}
	return nil
}
