package main

import (
	"fmt"
	"path"
	"strings"

	"github.com/piecefs/piecefs/meta"
)

// treeFile is a regular file of a manifest chosen by a path: its own path
// in the tree and the entry that holds its bytes (a hardlink's target).
type treeFile struct {
	Path  string // slash-separated, relative to the root
	Entry *meta.Entry
}

// manifestPath turns a path inside the tree ("" or "/" or "." for the
// root, "a/b" or "/a/b" below it) into the form meta.Manifest.Lookup
// takes, refusing a path that climbs out of the tree.
func manifestPath(p string) (string, error) {
	c := path.Clean("/" + p)
	if strings.Contains(p, "\x00") {
		return "", fmt.Errorf("path %q: contains NUL", p)
	}
	if c == "/" {
		return ".", nil
	}
	return strings.TrimPrefix(c, "/"), nil
}

// pinPath is how a pin names a path inside the tree: "" for the root,
// "/a/b" below it, so that a pin of a directory is a prefix of the pins
// below it (see store.Unpin).
func pinPath(manifestPath string) string {
	if manifestPath == "." {
		return ""
	}
	return "/" + manifestPath
}

// selectFiles returns the regular files at or under each path, each once,
// in the order the paths and then the manifest give them. An unknown path
// is an error naming it. A hardlink counts as a file, with its target's
// bytes; symlinks and devices have no bytes and are skipped.
func selectFiles(m *meta.Manifest, paths []string) ([]treeFile, error) {
	var files []treeFile
	seen := map[int]bool{}
	var walk func(i int)
	walk = func(i int) {
		if seen[i] {
			return
		}
		seen[i] = true
		e := &m.Entries[i]
		switch e.Kind {
		case meta.KindDir:
			for _, c := range m.Children(i) {
				walk(int(c))
			}
		case meta.KindFile:
			files = append(files, treeFile{Path: e.Path, Entry: e})
		case meta.KindHardlink:
			if t, ok := m.Lookup(e.Target); ok && m.Entries[t].Kind == meta.KindFile {
				files = append(files, treeFile{Path: e.Path, Entry: &m.Entries[t]})
			}
		}
	}
	for _, p := range paths {
		mp, err := manifestPath(p)
		if err != nil {
			return nil, err
		}
		i, ok := m.Lookup(mp)
		if !ok {
			return nil, fmt.Errorf("%s: no such file or directory in the tree", pinPath(mp))
		}
		walk(i)
	}
	return files, nil
}

// piecesOf returns the distinct pieces that hold the bytes of files, in
// the order of the files.
func piecesOf(m *meta.Manifest, files []treeFile) []meta.Piece {
	var pieces []meta.Piece
	seen := map[int]bool{}
	var slices []meta.Slice
	for _, f := range files {
		slices = m.AppendSlices(slices[:0], f.Entry, 0, f.Entry.Size)
		for _, s := range slices {
			if !seen[s.Index] {
				seen[s.Index] = true
				pieces = append(pieces, s.Piece)
			}
		}
	}
	return pieces
}
