// Package origin is the publish output directory: writing the objects of a
// published tree into it, and serving it over HTTP in the layout the fetch
// package reads.
//
// # Layout
//
// Relative to the output directory, as meta.PiecePath, meta.ManifestPath and
// meta.TagPath name them:
//
//	pieces/ab/<hex>         immutable piece bytes, and a manifest's prefetch list (meta.ObjectRef)
//	manifests/<hex>.json    immutable manifest bytes
//	tags/<name>             "sha256:<hex>\n", the only mutable files
//
// Any static file server (nginx, an object store) can serve the directory
// as it is; [Handler] is the built-in one.
//
// # Writing
//
// Every object is written to a temporary file in its final directory,
// fsynced, renamed into place and the directory fsynced, so a reader — or a
// crash — sees the old file or the new one, never a partial one. Temporary
// names begin with '.', so Handler never serves them; a crash can leave
// them behind, and they are safe to delete when no publish is running.
// Pieces, block tables and manifests are named by their sha256, which
// [Dir.PutPiece] and [Dir.PutBlocks] check, so concurrent writers agree. An object already present is read
// and hashed before it is kept: one damaged in place, even at its right
// size, is rewritten and counted in [Stats].Repaired.
//
// # Serving
//
// [Handler] answers GET and HEAD, with ranges, for exactly the names in the
// layout and nothing else: any other path is 404 before the file system is
// touched, so "..", encoded dots and directory listings cannot reach
// anything. Files are opened without following symlinks and must be regular
// files, so a symlink planted in the directory cannot expose a file outside
// it. Pieces, block tables and manifests are served as immutable with a
// strong ETag, tags as no-cache.
package origin
