// Package fs serves a manifest as a read-only FUSE file system
// (github.com/hanwen/go-fuse/v2). It is deliberately thin: it turns FUSE
// operations into manifest lookups and [FileReader] calls, and does no I/O,
// hashing or retrying of its own.
//
// # Tree
//
// The whole tree is built from the manifest when the root is added to the
// file system, as persistent inodes that the kernel cannot make us forget.
// Inode numbers are stable: entry i of the manifest is inode i+1, so the
// root is inode 1. A hardlink is another name for its target's inode, so
// both names report the same inode number and a link count above one.
//
// # Caching
//
// A mount serves one manifest, named by its digest, and the content it
// names never changes. The kernel may therefore keep file pages for as long
// as it likes (FOPEN_KEEP_CACHE) and hold entries and attributes for
// [Options.CacheTimeout]: nothing can make them stale.
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
