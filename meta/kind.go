package meta

import "fmt"

// Kind is the type of an entry. It is one byte in memory and its name in
// the encoding ("dir", "file", …), so that a manifest of millions of
// entries does not hold millions of copies of the same few strings.
type Kind uint8

// The entry kinds. The zero Kind is none of them, and invalid.
const (
	KindDir      Kind = iota + 1
	KindFile          // regular file
	KindSymlink       // symbolic link
	KindHardlink      // another name for Target's inode
	KindChar          // character device
	KindBlock         // block device
	KindFifo
)

var kindNames = [...]string{
	KindDir:      "dir",
	KindFile:     "file",
	KindSymlink:  "symlink",
	KindHardlink: "hardlink",
	KindChar:     "char",
	KindBlock:    "block",
	KindFifo:     "fifo",
}

func (k Kind) valid() bool { return k != 0 && int(k) < len(kindNames) }

// String returns the kind's name in the encoding.
func (k Kind) String() string {
	if !k.valid() {
		return fmt.Sprintf("Kind(%d)", uint8(k))
	}
	return kindNames[k]
}

// MarshalText encodes the kind as its name; an invalid kind is an error.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.valid() {
		return nil, fmt.Errorf("unknown kind %d", uint8(k))
	}
	return []byte(kindNames[k]), nil
}

// UnmarshalText decodes a kind's name; any other text is an error.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, name := range kindNames {
		if name != "" && name == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("unknown kind %q", b)
}
