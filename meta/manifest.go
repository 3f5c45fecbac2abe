package meta

import "strings"

// Format is the value of Manifest.Format; it lets a reader tell a piecefs
// manifest from any other JSON document before looking further.
const Format = "piecefs-manifest"

// The manifest versions this package reads. A reader refuses any other
// version rather than guess at fields it does not know.
const (
	// VersionWholePieces (1) verifies a piece only as a whole, against its
	// digest.
	VersionWholePieces = 1
	// VersionBlocks (2) adds a block size and, for each piece of more than
	// one block, the digest of its block table (see blocks.go), so that any
	// block can be fetched and verified on its own.
	VersionBlocks = 2
	// Version is the version publishers write.
	Version = VersionBlocks
)

// Manifest describes a published tree.
type Manifest struct {
	Format    string `json:"format"`
	Version   int    `json:"version"`
	PieceSize int64  `json:"pieceSize"` // the publisher's piece size; no piece is larger
	// BlockSize is the unit of verification below a piece (version 2; 0 in
	// version 1): pieces are cut into blocks of this size, the last one
	// shorter.
	BlockSize int64   `json:"blockSize,omitempty"`
	Pieces    []Piece `json:"pieces"`
	// Entries lists the tree, root first (Path "."), every directory before
	// the entries inside it.
	Entries []Entry `json:"entries"`
	// Image is the process settings of the OCI image the tree was imported
	// from (`piecefs import`); nil for a publication of a directory. It
	// comes after every field that existed before it, and is omitted when
	// nil, so that manifests without it encode, and hash, as before.
	Image *Image `json:"image,omitempty"`
	// Prefetch names the list of file ranges a mount fetches first, in the
	// background (see PrefetchList), stored in the layout as a piece; nil
	// when none was published. Last, for the same reason as Image.
	Prefetch *ObjectRef `json:"prefetch,omitempty"`

	// The tables below are built by Validate; see tree.go. They cost about
	// 16 bytes an entry, where a map from path to entry would cost 50.
	links    []uint32           // per entry: its link count, or for a hardlink its target's index
	children []int32            // every entry but the root, grouped by directory, in manifest order
	byName   []int32            // the same, each directory's group sorted by name
	first    []int32            // directory i's group is [first[i], first[i+1]); empty for a non-directory
	starts   map[*Entry][]int64 // file offset of each extent, for files of many extents
}

// Piece is one content-addressed blob of the published tree.
type Piece struct {
	Digest Digest `json:"digest"`
	Size   int64  `json:"size"`
	// Blocks is the digest of the piece's block table (version 2, for a
	// piece of more than one block; zero otherwise, where the piece's own
	// digest is its one block's hash).
	Blocks Digest `json:"blocks,omitzero"`
}

// Entry is one name in the tree. The field order is the encoding's, which
// fixes a manifest's digest: do not reorder.
type Entry struct {
	Path  string `json:"path"` // slash-separated, relative to the root; "." is the root
	Kind  Kind   `json:"kind"`
	Mode  uint32 `json:"mode"` // permission bits, including setuid, setgid and sticky (07777)
	UID   uint32 `json:"uid"`
	GID   uint32 `json:"gid"`
	Mtime int64  `json:"mtime"` // nanoseconds since the Unix epoch
	// Size is the file's length in bytes (KindFile only).
	Size int64 `json:"size,omitempty"`
	// Target is a symlink's target, or the path of the entry a hardlink
	// shares its inode with.
	Target   string            `json:"target,omitempty"`
	DevMajor uint32            `json:"devMajor,omitempty"`
	DevMinor uint32            `json:"devMinor,omitempty"`
	Xattrs   map[string][]byte `json:"xattrs,omitempty"`
	Extents  []Extent          `json:"extents,omitempty"`
}

// Name returns the last element of the entry's path: its name in its
// directory ("." for the root).
func (e *Entry) Name() string { return e.Path[strings.LastIndexByte(e.Path, '/')+1:] }

// Extent is a range of a piece that holds consecutive bytes of a file.
type Extent struct {
	Piece  int   `json:"piece"` // index into Manifest.Pieces
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// Inode returns the index of the entry that holds entry i's attributes and
// content: the target for a hardlink, i itself otherwise.
func (m *Manifest) Inode(i int) int {
	if m.Entries[i].Kind == KindHardlink {
		return int(m.links[i])
	}
	return i
}

// Nlink returns the link count of entry i's inode: for a directory 2 plus
// its subdirectories, for anything else the number of names it has.
func (m *Manifest) Nlink(i int) uint32 { return m.links[m.Inode(i)] }
