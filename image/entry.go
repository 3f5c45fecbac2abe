package image

import (
	"archive/tar"
	"fmt"
	"strings"

	"github.com/piecefs/piecefs/meta"
)

// xattrPrefix marks an extended attribute in a PAX header, as GNU tar and
// every image builder write them.
const xattrPrefix = "SCHILY.xattr."

// entryOf returns the entry a tar header describes (its Path unset): kind,
// permission bits (setuid, setgid and sticky included), owner, mtime, size,
// symlink target, device numbers and xattrs. Hardlinks are the tree's.
func entryOf(h *tar.Header) (meta.Entry, error) {
	if h.Uid < 0 || h.Gid < 0 || int64(h.Uid) > 1<<32-1 || int64(h.Gid) > 1<<32-1 {
		return meta.Entry{}, fmt.Errorf("owner %d:%d out of range", h.Uid, h.Gid)
	}
	e := meta.Entry{Mode: uint32(h.Mode) & 0o7777, UID: uint32(h.Uid), GID: uint32(h.Gid), Mtime: h.ModTime.UnixNano()}
	switch h.Typeflag {
	case tar.TypeDir:
		e.Kind = meta.KindDir
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		e.Kind, e.Size = meta.KindFile, h.Size
	case tar.TypeSymlink:
		e.Kind, e.Target = meta.KindSymlink, h.Linkname
	case tar.TypeChar:
		e.Kind, e.DevMajor, e.DevMinor = meta.KindChar, uint32(h.Devmajor), uint32(h.Devminor)
	case tar.TypeBlock:
		e.Kind, e.DevMajor, e.DevMinor = meta.KindBlock, uint32(h.Devmajor), uint32(h.Devminor)
	case tar.TypeFifo:
		e.Kind = meta.KindFifo
	default:
		return meta.Entry{}, fmt.Errorf("tar entry type %q is not supported", h.Typeflag)
	}
	e.Xattrs = xattrs(h)
	return e, nil
}

// xattrs returns the header's extended attributes, leaving out the
// system.* namespace (ACLs and the like) as publish does: it describes the
// builder's file system, and a FUSE mount could not honour it.
func xattrs(h *tar.Header) map[string][]byte {
	var x map[string][]byte
	for k, v := range h.PAXRecords {
		name, ok := strings.CutPrefix(k, xattrPrefix)
		if !ok || strings.HasPrefix(name, "system.") {
			continue
		}
		if x == nil {
			x = make(map[string][]byte)
		}
		x[name] = []byte(v)
	}
	return x
}
