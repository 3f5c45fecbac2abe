// Package store keeps verified pieces and manifests on local disk, in a
// cache directory that survives restarts and crashes.
//
// # Layout
//
// A cache directory DIR holds:
//
//	DIR/piecefs.db                 bbolt database
//	DIR/pieces/ab/<hex>            complete pieces (ab = first two hex digits)
//	DIR/pieces/ab/<hex>.part       a piece being written; never read, removed at start
//	DIR/manifests/<hex>.json       manifests seen (same durable write)
//
// <hex> is the 64 lowercase hex digits of the sha256 of the file's content.
// Temporary manifest files end in ".part" too.
//
// The database has three buckets, created at open (see [BucketPieces],
// [BucketManifests], [BucketTags]):
//
//	pieces     32 raw digest bytes → 8-byte big-endian size of a complete piece
//	manifests  32 raw digest bytes → 8-byte big-endian size of a cached manifest
//	tags       origin + "\x00" + tag → 32 raw digest bytes of the manifest
//
// A piece is complete if and only if it has a record in bucket pieces; its
// file then exists, has that size, and hashes to its digest.
//
// # Crash safety
//
// What a crash can leave behind is either complete and verified or absent.
// A piece is written to <hex>.part and made durable in this order: fsync the
// file, close it, check its size, rename it to <hex>, fsync the directory,
// record it in bbolt (fsync on). A failure at any step removes what was
// written and records nothing. The .part name is never read.
//
// Open reconciles the directory with the database before anything is
// served: it removes every .part file, drops every record whose file is
// missing or has the wrong size (with the file), and removes every file
// without a record (a crash between rename and record). Dropped pieces are
// fetched again when next read. The same holds for manifests.
//
// Records are written with bbolt's Batch, so commits that run at the same
// time share one database fsync; a lone commit waits out bbolt's batch delay
// (10ms by default) first.
//
// The content of a piece is verified by the caller before it reaches the
// store (the fetcher hashes bytes as they arrive); the store checks sizes,
// which is what a crash or a truncating file system can get wrong. A piece
// file found missing or short while reading is dropped the same way, and the
// read fails with an error wrapping [io/fs.ErrNotExist] so the caller
// fetches it again.
//
// # Exclusive use
//
// One process at a time uses a cache directory: bbolt holds a lock on the
// database file, and a second Open fails after [Options.LockTimeout] with an
// error wrapping [ErrInUse] rather than waiting forever.
//
// # Open files
//
// Reads use plain pread on files kept open in a bounded cache
// ([Options.OpenFiles]). A file evicted while a read is using it is closed
// when that read is done, so eviction never breaks a read in progress.
//
// # Concurrency
//
// All methods of [Store] are safe for concurrent use. A [Writer] belongs to
// one goroutine. Only one Writer per piece can be open at a time; a second
// Create for the same piece fails with an error wrapping [ErrBusy].
package store
