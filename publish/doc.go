// Package publish turns a directory tree into content-addressed pieces and
// the manifest that describes it: the writing side of piecefs. What it
// builds is read by meta; where the pieces go is the caller's [Sink]
// (origin.Dir for `piecefs publish`).
//
// # Sources and the packer
//
// A [Source] hands the tree's entries to the packer in manifest order (a
// directory before what it holds), each regular file with a reader of its
// bytes, streamed: the packer holds at most one piece and one small file
// in memory. The packer turns them into pieces, extents and block tables,
// whatever the source. [Build] publishes a directory through the directory
// walk, a source of its own; [BuildFrom] takes any other (the image
// package's flattened OCI layers, for `piecefs import`). Small files are
// packed in the order the source gives them.
//
// # What it reads
//
// [Build] walks the directory it is given from open directories (openat,
// fstatat), never following a symlink: symlinks are recorded as such, with
// their target as is, and files and directories are opened with O_NOFOLLOW
// and checked to be the inode (dev and ino) that was listed. It
// records directories, regular files, symlinks, hardlinks (a second name of
// an inode already seen), character and block devices and fifos, with
// their permission bits (setuid, setgid and sticky included), owner, mtime
// and extended attributes outside the system.* namespace. Devices and fifos
// are metadata only: they are never opened. Sockets cannot be published;
// every name of one, hardlinks included, is left out and reported to
// [Options.Warn].
//
// # How pieces are packed
//
// A file at least one piece size long gets pieces of its own, the first
// starting at its offset 0, so identical large files, and the unchanged
// large files of a new version of a tree, share every piece. Smaller files
// are packed into shared pieces in walk order, which lists a directory's
// files before its subdirectories, so reading a tree in order reads pieces
// in sequence. A small file is never split across two pieces, so reading it
// costs one fetch. Identical content is stored once: a piece is handed to
// the sink once per build, and identical small files share one extent. The
// same tree always builds the same manifest, byte for byte.
//
// # What it refuses
//
// A piece size outside meta's bounds, a root that is not a directory, an
// entry replaced between its listing and its open (by a symlink, a fifo or
// another file: following it could publish bytes from outside the tree),
// and a file that changes while it is read (its size or mtime moves, or it
// holds more or fewer bytes than its stat said): the manifest would
// describe bytes that never existed together. Each fails the build with an
// error naming the path and saying it "changed while publishing". Any read
// error fails the build too; nothing is skipped silently. Build does not
// know where its sink writes, so a caller writing into a directory first
// runs [CheckOutside], which refuses an output that is the source or lies
// inside it.
//
// # Crashes and atomicity
//
// Build writes nothing itself. Pieces reach the sink as they are made and
// the manifest only at the end, so the output is as crash-safe as the sink
// makes each piece: origin.Dir lands every piece and manifest by an atomic,
// fsynced rename, and a manifest is only written once every piece it names
// has been. A publish that fails or is cancelled leaves only whole,
// correctly named pieces behind, which the next publish re-uses; origin.Dir
// hashes a piece already present before keeping it, so publishing again
// also repairs a piece damaged in place.
package publish
