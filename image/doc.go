// Package image reads OCI images and flattens their layers into one tree
// for the publish packer: the reading side of `piecefs import`. An [Image]
// is a publish.Source, so an image becomes a publication exactly as a
// directory does: the same packing, deduplication and block tables, and a
// manifest whose Image field carries the config's process settings.
//
// # What it reads
//
// [Open] takes an OCI image layout directory (DIR, or DIR:REF where REF is
// an org.opencontainers.image.ref.name of its index), an OCI archive (a
// tar of such a directory, FILE[:REF]) or a docker save tarball
// (FILE[:REPO:TAG]). An archive is read in place: one pass over its tar
// headers records where each member lies, and members are then read
// through sections of the file; nothing is extracted. Index, manifest and
// config are parsed with go-containerregistry's types; for an index of
// several platforms, [Options.Platform] picks one (this machine's by
// default), and an error lists what the index has when none matches.
// Layers are tar, gzip or zstd, told by their first bytes as
// go-containerregistry and containerd do.
//
// # Verification
//
// The layout's index.json (or a docker archive's manifest.json) is the root
// of trust, as in every OCI tool. Everything below it is checked as it is
// read: a manifest, config or index against the digest and size its
// descriptor gives; a layer's stored bytes against its digest and size
// (OCI) and its uncompressed bytes against the config's diff_id (both
// forms; a docker archive names layers by path). go-containerregistry's
// layout and tarball readers check none of this themselves (they open the
// blob file as is), so this package wraps every read in a hashing reader
// that fails at EOF, and reads each layer to its end, past the tar's end
// marker, every time it reads it. A mismatch is [ErrCorrupt]; a missing
// blob says "blob missing"; both name the layer.
//
// # Flattening
//
// Layers apply in order, bottom first, as image-spec layer.md says. In
// each layer the whiteouts act first, on the lower layers only: ".wh.NAME"
// removes NAME and all under it, ".wh..wh..opq" hides every lower entry
// of its directory; then its entries apply in tar order, a later entry of
// a name replacing an earlier one (a directory over a directory keeps what
// it holds and takes the new attributes). Whiteout files are never
// shipped. Modes (setuid, setgid, sticky), owners, mtimes to the
// nanosecond, xattrs from PAX SCHILY.xattr.* records (security.capability,
// user.*; system.* is left out, as publish leaves it out), symlinks,
// devices and fifos are kept. A hardlink names the inode its target names
// when the link is applied, within its layer or from a lower one; as on
// the disk an unpacking tool writes, removing or replacing one name later
// leaves the inode to its other names. A missing parent directory is made
// 0755, root's.
//
// # What it refuses
//
// Each with an error naming the layer and the entry: a path that is
// absolute or has a ".." component (a hardlink target too); an entry
// whose parent is not a directory (a symlink is never followed); a
// whiteout of a name no lower layer has (one under a name the same layer
// whites out is redundant, and passes); a hardlink to a name that does
// not exist (yet) or to a directory; a root that is not a directory; tar
// entry types other than files, directories, links, devices and fifos; a
// layer of an unknown media type; names or link targets over 4096 bytes;
// more than [Options.MaxEntries] tar entries in all layers (10 million by
// default) or more than 1 GiB of names and attributes (no manifest could
// hold them): tar bombs.
//
// # Memory and order: two passes
//
// Nothing is extracted to disk and no root is needed. The first pass reads
// only the layers' headers (one layer's at a time, contents skipped) and
// computes the final tree in memory: a node per surviving name, bounded as
// above, about 210 bytes a name (a layer of a million empty files: 211 MB
// of tree, 0.7 GB peak RSS with the manifest being built beside it); a
// layer's entries are kept, reduced to what the tree needs, only until
// the layer is applied. The second pass reads again, in order, each layer that holds a
// surviving file's bytes and streams those bytes into the packer as the
// tar yields them; a layer holding none is not read again. So the
// manifest lists the root, then every directory, symlink, device and fifo
// in name order (parents first), then the regular files in the order the
// layers hold them (bottom layer first, tar order within), then the
// hardlinks; an inode's first name in name order carries it, its other
// names are hardlinks to that one. Small files are packed in that order.
// A layer that changes between the passes fails the import: its digest is
// checked again at its end, and every file must have the size it had.
// Each read of a layer decompresses it in a goroutine of its own, beside
// the tar reading, hashing and packing of what it has produced, and
// stops it when the read ends, early or not.
package image
