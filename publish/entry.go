package publish

import (
	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/meta"
)

// entryOf returns the entry a stat describes, without content, symlink
// target or xattrs. It reports false for a type the manifest cannot hold
// (a socket): such an entry is left out.
func entryOf(p string, st *unix.Stat_t) (meta.Entry, bool) {
	e := meta.Entry{
		Path:  p,
		Mode:  uint32(st.Mode) & 07777,
		UID:   st.Uid,
		GID:   st.Gid,
		Mtime: st.Mtim.Nano(),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		e.Kind = meta.KindDir
	case unix.S_IFREG:
		e.Kind = meta.KindFile
		e.Size = st.Size
	case unix.S_IFLNK:
		e.Kind = meta.KindSymlink
	case unix.S_IFCHR:
		e.Kind = meta.KindChar
		e.DevMajor, e.DevMinor = devMajor(st.Rdev), devMinor(st.Rdev)
	case unix.S_IFBLK:
		e.Kind = meta.KindBlock
		e.DevMajor, e.DevMinor = devMajor(st.Rdev), devMinor(st.Rdev)
	case unix.S_IFIFO:
		e.Kind = meta.KindFifo
	default:
		return meta.Entry{}, false
	}
	return e, true
}

// devMajor and devMinor decode Linux's dev_t, as glibc's gnu_dev_major and
// gnu_dev_minor do.
func devMajor(d uint64) uint32 { return uint32((d>>8)&0xfff | (d>>32)&^0xfff) }
func devMinor(d uint64) uint32 { return uint32(d&0xff | (d>>12)&^0xff) }
