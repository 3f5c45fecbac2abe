package publish

import (
	"context"
	"io"

	"github.com/piecefs/piecefs/meta"
)

// Source is where a build's entries come from: the directory walk of
// [Build], or an importer such as an OCI image's flattened layers.
type Source interface {
	// Entries calls add once for every entry of the tree, in manifest
	// order: the root "." first, every directory before the entries inside
	// it (a hardlink may come before its target). For a regular file,
	// content yields exactly e.Size bytes and is read only during the call;
	// for any other kind it is nil. Entries returns add's errors as they
	// are, and stops when ctx is done.
	Entries(ctx context.Context, add AddFunc) error
}

// AddFunc receives one entry of a [Source] and, for a regular file, its
// bytes.
type AddFunc func(e meta.Entry, content io.Reader) error

// dirSource is the directory walk as a Source.
type dirSource struct {
	root string
	opts Options
}

func (d dirSource) Entries(ctx context.Context, add AddFunc) error {
	return walkTree(ctx, d.root, add, d.opts)
}
