package meta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"syscall"
)

// Sink receives the pieces a build produces, in order. A sink may be asked
// for the same digest more than once and should store it once.
type Sink interface {
	PutPiece(d Digest, data []byte) error
}

// BuildOptions tunes Build.
type BuildOptions struct {
	PieceSize int64 // default DefaultPieceSize
	// Warn is told about entries that are left out (sockets); nil ignores.
	Warn func(path string, reason string)
}

// DefaultPieceSize is the piece size publish uses unless told otherwise.
const DefaultPieceSize = 4 << 20

// Build walks the directory root and returns the manifest of the tree,
// handing every piece to sink.
//
// Files of at least one piece size get pieces of their own, so identical
// large files share every piece and a new version of a tree re-uses the
// pieces of the files that did not change. Smaller files are packed into
// shared pieces in walk order, which lists a directory's files before its
// subdirectories, so walking a tree reads pieces in sequence. A small file
// is never split across two pieces, so reading it costs one fetch.
func Build(ctx context.Context, root string, sink Sink, opts BuildOptions) (*Manifest, error) {
	if opts.PieceSize == 0 {
		opts.PieceSize = DefaultPieceSize
	}
	if opts.PieceSize < MinPieceSize || opts.PieceSize > MaxPieceSize {
		return nil, fmt.Errorf("piece size %d outside [%d, %d]", opts.PieceSize, MinPieceSize, int64(MaxPieceSize))
	}
	b := &builder{
		ctx: ctx, root: root, sink: sink, opts: opts,
		m:      &Manifest{Format: Format, Version: Version, PieceSize: opts.PieceSize},
		pieces: make(map[Digest]int),
		small:  make(map[Digest][]Extent),
		links:  make(map[fileID]string),
		buf:    make([]byte, opts.PieceSize),
		pack:   make([]byte, 0, opts.PieceSize),
	}
	fi, err := os.Lstat(root)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("publish: %s is not a directory", root)
	}
	if err := b.addEntry(".", fi); err != nil {
		return nil, err
	}
	if err := b.walk("."); err != nil {
		return nil, err
	}
	if err := b.flushPack(); err != nil {
		return nil, err
	}
	if err := b.m.Validate(); err != nil {
		return nil, fmt.Errorf("publish: built an invalid manifest: %w", err)
	}
	return b.m, nil
}

type fileID struct{ dev, ino uint64 }

type builder struct {
	ctx  context.Context
	root string
	sink Sink
	opts BuildOptions
	m    *Manifest

	pieces map[Digest]int      // digest → index in m.Pieces
	small  map[Digest][]Extent // content digest of a packed file → its extents
	links  map[fileID]string   // first path seen of a multiply-linked inode

	buf      []byte // one piece of a large file
	pack     []byte // the pack piece being filled
	packSlot int    // index in m.Pieces reserved for pack, or -1 when empty
}

// walk lists dir's non-directories before recursing into its directories,
// so the files of one directory land next to each other in the packs.
func (b *builder) walk(dir string) error {
	ents, err := os.ReadDir(filepath.Join(b.root, dir))
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	var subdirs []string
	for _, de := range ents {
		if err := b.ctx.Err(); err != nil {
			return err
		}
		p := path.Join(dir, de.Name())
		fi, err := os.Lstat(filepath.Join(b.root, p))
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if fi.IsDir() {
			subdirs = append(subdirs, p)
			continue
		}
		if err := b.addEntry(p, fi); err != nil {
			return err
		}
	}
	for _, p := range subdirs {
		fi, err := os.Lstat(filepath.Join(b.root, p))
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		if err := b.addEntry(p, fi); err != nil {
			return err
		}
		if err := b.walk(p); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) addEntry(p string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("publish: %s: no stat information", p)
	}
	full := filepath.Join(b.root, p)
	e := Entry{
		Path:  p,
		Mode:  uint32(st.Mode) & 07777,
		UID:   st.Uid,
		GID:   st.Gid,
		Mtime: st.Mtim.Nano(),
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR && st.Nlink > 1 {
		id := fileID{uint64(st.Dev), st.Ino}
		if first, seen := b.links[id]; seen {
			b.m.Entries = append(b.m.Entries, Entry{Path: p, Kind: KindHardlink, Target: first})
			return nil
		}
		b.links[id] = p
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		e.Kind = KindDir
	case syscall.S_IFREG:
		e.Kind = KindFile
	case syscall.S_IFLNK:
		e.Kind = KindSymlink
		t, err := os.Readlink(full)
		if err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		e.Target = t
	case syscall.S_IFCHR, syscall.S_IFBLK:
		e.Kind = KindChar
		if st.Mode&syscall.S_IFMT == syscall.S_IFBLK {
			e.Kind = KindBlock
		}
		e.DevMajor, e.DevMinor = devMajor(st.Rdev), devMinor(st.Rdev)
	case syscall.S_IFIFO:
		e.Kind = KindFifo
	default:
		if b.opts.Warn != nil {
			b.opts.Warn(p, "socket or unknown file type: left out")
		}
		return nil
	}
	if e.Kind != KindSymlink {
		x, err := readXattrs(full)
		if err != nil {
			return fmt.Errorf("publish: %s: %w", p, err)
		}
		e.Xattrs = x
	}
	if e.Kind == KindFile {
		if err := b.addContent(&e, full, fi); err != nil {
			return fmt.Errorf("publish: %s: %w", p, err)
		}
	}
	b.m.Entries = append(b.m.Entries, e)
	return nil
}

// devMajor and devMinor decode Linux's dev_t, as glibc's gnu_dev_major and
// gnu_dev_minor do.
func devMajor(d uint64) uint32 { return uint32((d>>8)&0xfff | (d>>32)&^0xfff) }
func devMinor(d uint64) uint32 { return uint32(d&0xff | (d>>12)&^0xff) }

// errChanged reports a file that changed while it was read: its manifest
// entry would describe bytes that never existed together.
var errChanged = errors.New("file changed while being published")

func (b *builder) addContent(e *Entry, full string, before os.FileInfo) error {
	f, err := os.Open(full)
	if err != nil {
		return err
	}
	defer f.Close()
	e.Size = before.Size()
	if e.Size < b.opts.PieceSize {
		err = b.addSmall(e, f)
	} else {
		err = b.addLarge(e, f)
	}
	if err != nil {
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

// readFull reads exactly len(p) bytes and then expects EOF, so a file that
// grew or shrank since its stat is caught.
func readFull(f *os.File, p []byte) error {
	if _, err := io.ReadFull(f, p); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return errChanged
		}
		return err
	}
	return nil
}

func expectEOF(f *os.File) error {
	var one [1]byte
	n, err := f.Read(one[:])
	if n > 0 {
		return errChanged
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func (b *builder) addLarge(e *Entry, f *os.File) error {
	for left := e.Size; left > 0; {
		n := min(left, b.opts.PieceSize)
		chunk := b.buf[:n]
		if err := readFull(f, chunk); err != nil {
			return err
		}
		idx, err := b.putPiece(chunk)
		if err != nil {
			return err
		}
		e.Extents = append(e.Extents, Extent{Piece: idx, Length: n})
		left -= n
	}
	return expectEOF(f)
}

func (b *builder) addSmall(e *Entry, f *os.File) error {
	if e.Size == 0 {
		return expectEOF(f)
	}
	data := make([]byte, e.Size)
	if err := readFull(f, data); err != nil {
		return err
	}
	if err := expectEOF(f); err != nil {
		return err
	}
	sum := Sum(data)
	if x, ok := b.small[sum]; ok {
		e.Extents = x // identical content is stored once
		return nil
	}
	if int64(len(b.pack)+len(data)) > b.opts.PieceSize {
		if err := b.flushPack(); err != nil {
			return err
		}
	}
	if len(b.pack) == 0 {
		b.packSlot = len(b.m.Pieces)
		b.m.Pieces = append(b.m.Pieces, Piece{})
	}
	e.Extents = []Extent{{Piece: b.packSlot, Offset: int64(len(b.pack)), Length: e.Size}}
	b.small[sum] = e.Extents
	b.pack = append(b.pack, data...)
	return nil
}

// flushPack seals the pack piece. Its slot in m.Pieces was reserved when the
// pack was started, so the extents already pointing at it stay right even if
// an identical piece exists elsewhere in the manifest.
func (b *builder) flushPack() error {
	if len(b.pack) == 0 {
		return nil
	}
	d := Sum(b.pack)
	if err := b.sink.PutPiece(d, b.pack); err != nil {
		return fmt.Errorf("store piece %s: %w", d, err)
	}
	b.m.Pieces[b.packSlot] = Piece{Digest: d, Size: int64(len(b.pack))}
	if _, ok := b.pieces[d]; !ok {
		b.pieces[d] = b.packSlot
	}
	b.pack = b.pack[:0]
	return nil
}

func (b *builder) putPiece(data []byte) (int, error) {
	d := Sum(data)
	if idx, ok := b.pieces[d]; ok {
		return idx, nil
	}
	if err := b.sink.PutPiece(d, data); err != nil {
		return 0, fmt.Errorf("store piece %s: %w", d, err)
	}
	idx := len(b.m.Pieces)
	b.m.Pieces = append(b.m.Pieces, Piece{Digest: d, Size: int64(len(data))})
	b.pieces[d] = idx
	return idx, nil
}
