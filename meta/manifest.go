package meta

// Format is the value of Manifest.Format; it lets a reader tell a piecefs
// manifest from any other JSON document before looking further.
const Format = "piecefs-manifest"

// Version is the manifest version this package writes and reads. A reader
// refuses a higher version rather than guess at fields it does not know.
const Version = 1

// Kind is the type of an entry.
type Kind string

// The entry kinds.
const (
	KindDir      Kind = "dir"
	KindFile     Kind = "file"
	KindSymlink  Kind = "symlink"
	KindHardlink Kind = "hardlink" // another name for Target's inode
	KindChar     Kind = "char"     // character device
	KindBlock    Kind = "block"    // block device
	KindFifo     Kind = "fifo"
)

// Manifest describes a published tree.
type Manifest struct {
	Format    string  `json:"format"`
	Version   int     `json:"version"`
	PieceSize int64   `json:"pieceSize"` // the publisher's piece size; no piece is larger
	Pieces    []Piece `json:"pieces"`
	// Entries lists the tree, root first (Path "."), every directory before
	// the entries inside it.
	Entries []Entry `json:"entries"`

	index map[string]int // path → entry index; built by Validate
	links []uint32       // link count per entry; built by Validate
}

// Piece is one content-addressed blob of the published tree.
type Piece struct {
	Digest Digest `json:"digest"`
	Size   int64  `json:"size"`
}

// Entry is one name in the tree.
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

	starts []int64 // file offset of each extent; built by Validate
	target int     // resolved hardlink target; built by Validate
}

// Extent is a range of a piece that holds consecutive bytes of a file.
type Extent struct {
	Piece  int   `json:"piece"` // index into Manifest.Pieces
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// Lookup returns the index of the entry at path p ("." for the root).
func (m *Manifest) Lookup(p string) (int, bool) {
	i, ok := m.index[p]
	return i, ok
}

// Inode returns the index of the entry that holds entry i's attributes and
// content: the target for a hardlink, i itself otherwise.
func (m *Manifest) Inode(i int) int {
	if m.Entries[i].Kind == KindHardlink {
		return m.Entries[i].target
	}
	return i
}

// Nlink returns the link count of entry i's inode: for a directory 2 plus
// its subdirectories, for anything else the number of names it has.
func (m *Manifest) Nlink(i int) uint32 { return m.links[m.Inode(i)] }
