package meta

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// The directory tables let a mount answer lookups and directory listings
// from the manifest alone, without a map from path to entry or an inode
// per entry built up front. Every entry but the root is in its directory's
// group twice: in children in manifest order (a listing follows the
// publisher's walk, which is the order of the packed pieces) and in byName
// sorted by name (a lookup is a binary search).

// Lookup returns the index of the entry at path p ("." for the root).
func (m *Manifest) Lookup(p string) (int, bool) {
	if p == "." {
		return 0, len(m.first) > 0
	}
	i := 0
	for {
		name, rest, more := strings.Cut(p, "/")
		j, ok := m.Child(i, name)
		if !ok || !more {
			return j, ok
		}
		i, p = j, rest
	}
}

// Child returns the index of the entry called name in directory dir, an
// entry index. It is false for a name that is not there and for a dir
// that is not a directory.
func (m *Manifest) Child(dir int, name string) (int, bool) {
	if dir < 0 || dir+1 >= len(m.first) {
		return 0, false
	}
	group := m.byName[m.first[dir]:m.first[dir+1]]
	k, ok := slices.BinarySearchFunc(group, name, func(c int32, name string) int {
		return strings.Compare(m.Entries[c].Name(), name)
	})
	if !ok {
		return 0, false
	}
	return int(group[k]), true
}

// Children returns the indices of directory dir's entries in manifest
// order; nothing for a non-directory. The slice is the manifest's own:
// callers must not modify it.
func (m *Manifest) Children(dir int) []int32 {
	if dir < 0 || dir+1 >= len(m.first) {
		return nil
	}
	return slices.Clip(m.children[m.first[dir]:m.first[dir+1]])
}

// buildTree fills children, byName and first from parent, the index of
// each entry's directory (parent[0] is unused), and refuses two entries of
// one name in one directory.
func (m *Manifest) buildTree(parent []int32) error {
	n := len(m.Entries)
	// A counting sort by parent keeps manifest order within each group.
	m.first = make([]int32, n+1)
	for _, p := range parent[1:] {
		m.first[p+1]++
	}
	for i := range n {
		m.first[i+1] += m.first[i]
	}
	m.children = make([]int32, n-1)
	next := slices.Clone(m.first[:n])
	for i, p := range parent[1:] {
		m.children[next[p]] = int32(i + 1)
		next[p]++
	}
	m.byName = slices.Clone(m.children)
	// Sorting compares each name many times, so each is found once, here:
	// where it starts in the path, which Validate has bounded to MaxPathLen.
	nameAt := make([]uint16, n)
	for i := range m.Entries {
		nameAt[i] = uint16(strings.LastIndexByte(m.Entries[i].Path, '/') + 1)
	}
	name := func(i int32) string { return m.Entries[i].Path[nameAt[i]:] }
	byName := func(a, b int32) int {
		return cmp.Or(strings.Compare(name(a), name(b)), cmp.Compare(a, b))
	}
	for dir := range n {
		group := m.byName[m.first[dir]:m.first[dir+1]]
		if len(group) < 2 {
			continue
		}
		// Publishers list names sorted more often than not.
		if !slices.IsSortedFunc(group, byName) {
			slices.SortFunc(group, byName)
		}
		for k := 1; k < len(group); k++ {
			if name(group[k-1]) == name(group[k]) {
				i := max(group[k-1], group[k])
				return fmt.Errorf("manifest: entry %d %q: duplicate path", i, m.Entries[i].Path)
			}
		}
	}
	return nil
}
