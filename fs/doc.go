// Package fs serves a manifest as a read-only FUSE file system
// (github.com/hanwen/go-fuse/v2). It is deliberately thin: it turns FUSE
// operations into manifest lookups and [FileReader] calls, and does no I/O,
// hashing or retrying of its own.
//
// # Tree
//
// Nothing is built at mount: a directory answers Lookup and Readdir from
// the manifest's own tables (meta.Manifest.Child and Children), and go-fuse
// keeps a looked-up inode only while the kernel holds it, so a mount of a
// million entries costs the decoded manifest and little more. (go-fuse's
// dynamic_example_test.go is the model; building every inode up front, as
// zipfs does, cost some 330 bytes an entry before anything was read.)
// Inode numbers are stable: entry i of the manifest is inode i+1, so the
// root is inode 1. A hardlink is another name for its target's inode, so
// both names report the same inode number and a link count above one, and
// go-fuse, which finds known inodes by number, gives both names one Inode.
//
// # Caching
//
// A mount serves one manifest, named by its digest, and the content it
// names never changes. The kernel may therefore keep file pages for as long
// as it likes and hold entries and attributes for [Options.CacheTimeout]:
// nothing can make them stale. A read-only open answers ENOSYS, so that the
// kernel stops sending opens and releases at all (FUSE_NO_OPEN_SUPPORT);
// files it then opens on its own keep their pages across opens
// (FOPEN_KEEP_CACHE is the kernel's default for them), and symlinks keep
// their targets (FUSE_CACHE_SYMLINKS). A flush answers ENOSYS too, so that
// the kernel stops sending one at every close (it sets no_flush). A walk
// that opens every file saves three round trips a file: a cold tar of
// 20,000 small files took 3.15 s instead of 3.82 s without the open and
// the release (medians of 3, local disk 2.38 s), and a tar of the same
// number with every page cached 3.6–4.5 s instead of 5.1–6.6 without the
// flush.
//
// # Extended attributes
//
// A node serves the extended attributes its entry publishes in the
// manifest, and beside them a few of piecefs's own, read-only, when the
// mount's [Options] ask for them: a regular file has user.piecefs.cached
// (the bytes of it cached, in decimal) and user.piecefs.pinned ("1" or
// "0"), from [Options.Info]; the root has user.piecefs.digest (the
// manifest's digest) and user.piecefs.control (the mount's control
// socket). Other directories, symlinks and special files have none of
// ours. A published attribute of the same name wins: it is served and
// listed, ours is not. Listxattr lists the published names, sorted, then
// ours. Values are computed on every call, and the kernel keeps no
// extended attributes of a FUSE file system, so they are never stale;
// CacheInfo must therefore answer from memory.
//
// # Read-only
//
// Every operation that would change the tree or a file answers EROFS. The
// mount is also read-only in the kernel, which answers most of them itself;
// the node methods say so again so that no other mount path can write.
// Permission bits are enforced by the kernel (default_permissions), as on a
// local file system, because the tree may be a container's root.
//
// # Errors
//
// Errors from the [FileReader] are mapped to an errno, and logged, in one
// place (errno.go): a cancelled request gives EINTR, a missing object
// ENOENT, anything else EIO. Lower packages wrap and return their errors
// and do not log them again.
package fs
