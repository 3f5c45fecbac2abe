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
// # Trust
//
// A manifest comes from the network. [Decode] checks everything that a
// reader of the tree relies on (names, parents, hardlink targets, extent
// bounds, sizes) and fails with an error that names the bad entry, so a
// hostile or damaged manifest is refused at mount time rather than
// producing a wrong tree or a panic later.
package meta
