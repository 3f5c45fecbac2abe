// Package meta is the manifest of a published tree: its model, its
// encoding, its validation and the offset→piece arithmetic. It does no
// file-system I/O; building a manifest from a directory is the publish
// package's work.
//
// It depends on the standard library only, so every other package can use
// it, and so it can be fuzzed and table-tested without I/O.
//
// # Model
//
// A manifest lists every entry of a tree (directories, regular files,
// symlinks, hardlinks, devices and fifos) with the metadata a container root
// filesystem needs, and the content-addressed pieces that hold the files'
// bytes. A file's bytes are a list of extents, each a range inside one
// piece; concatenated in order they are the file.
//
// # Image
//
// A tree imported from an OCI image carries the image's process settings
// ([Image]: entrypoint, cmd, env, working directory, user, platform) in
// [Manifest.Image], the manifest's last field, so that a manifest without
// one encodes, and hashes, as before the field existed. Validate bounds its
// strings as execve would and refuses NULs and env strings not KEY=VALUE.
//
// # Blocks
//
// A version 2 manifest ([VersionBlocks]) also gives a block size, and each
// piece of more than one block names its block table: an immutable object
// of the origin layout ([BlocksPath]) holding the sha256 of every block, so
// that a reader can fetch and verify any block on its own. A piece's digest
// is the sha256 of its whole bytes in both versions. The block arithmetic
// ([NumBlocks], [BlockSpan], [BlocksOf]) and the table's encoding and
// check ([BlockTable], [ParseBlockTable]) live here; docs/format.md is the
// contract.
//
// # Decoding
//
// A mount decodes its manifest before it is ready, so container start-up
// waits for it. [Decode] therefore reads a manifest as [Manifest.Encode]
// writes it (json.Marshal's output, give or take whitespace) with a
// scanner of its own, several times faster than encoding/json; any other
// document (keys in another case, unknown keys, null, escapes json.Marshal
// does not write, …) goes to encoding/json, which remains the reference
// for what a manifest means and for every error. A fuzz test checks that
// wherever the fast path accepts a document, encoding/json decodes it to
// the same manifest.
//
// # Trust
//
// A manifest comes from the network. [Decode] checks everything that a
// reader of the tree relies on (names, parents, hardlink targets, extent
// bounds, sizes, one size and one block table per digest, block sizes) and
// fails with an error that names the bad entry, so a
// hostile or damaged manifest is refused at mount time rather than
// producing a wrong tree or a panic later.
package meta
