package meta

import (
	"bytes"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	m := mustValidate(t, sample())
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	b2, err := got.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Fatalf("re-encoding differs:\n%s\n%s", b, b2)
	}
	if i, ok := got.Lookup("a/f"); !ok || got.Entries[i].Mtime != 1700000000123456789 {
		t.Fatalf("Lookup(a/f) = %d, %v", i, ok)
	}
}

func TestNlinkAndInode(t *testing.T) {
	m := mustValidate(t, sample())
	f, _ := m.Lookup("a/f")
	hl, _ := m.Lookup("hl")
	a, _ := m.Lookup("a")
	tests := []struct {
		name    string
		i       int
		nlink   uint32
		inodeOf int
	}{
		{"root has two subdirs", 0, 4, 0},
		{"dir without subdirs", a, 2, a},
		{"file with a hardlink", f, 2, f},
		{"the hardlink", hl, 2, f},
	}
	for _, tc := range tests {
		if got := m.Nlink(tc.i); got != tc.nlink {
			t.Errorf("%s: Nlink = %d, want %d", tc.name, got, tc.nlink)
		}
		if got := m.Inode(tc.i); got != tc.inodeOf {
			t.Errorf("%s: Inode = %d, want %d", tc.name, got, tc.inodeOf)
		}
	}
}

// badManifests are edits of sample() that Validate must refuse, with a word
// the error must contain so the refusal is for the right reason.
var badManifests = []struct {
	name string
	edit func(m *Manifest)
	want string
}{
	{"wrong format", func(m *Manifest) { m.Format = "tar" }, "format"},
	{"future version", func(m *Manifest) { m.Version = 3 }, "version"},
	{"block size in version 1", func(m *Manifest) { m.BlockSize = 4096 }, "blockSize"},
	{"block table in version 1", func(m *Manifest) { m.Pieces[0].Blocks = Sum([]byte("t")) }, "block table"},
	{"piece size zero", func(m *Manifest) { m.PieceSize = 0 }, "piece size"},
	{"piece size huge", func(m *Manifest) { m.PieceSize = 1 << 40 }, "piece size"},
	{"piece bigger than piece size", func(m *Manifest) { m.Pieces[0].Size = 5000 }, "size"},
	{"empty piece", func(m *Manifest) { m.Pieces[0].Size = 0 }, "size"},
	{"one digest, two sizes", func(m *Manifest) {
		m.Pieces = append(m.Pieces, Piece{Digest: m.Pieces[0].Digest, Size: m.Pieces[0].Size - 1})
	}, "one digest has one size"},
	{"no entries", func(m *Manifest) { m.Entries = nil }, "root"},
	{"root not first", func(m *Manifest) { m.Entries[0], m.Entries[1] = m.Entries[1], m.Entries[0] }, "root"},
	{"dotdot name", func(m *Manifest) { m.Entries[3].Path = "a/../x" }, ".."},
	{"leading slash", func(m *Manifest) { m.Entries[3].Path = "/etc" }, "empty component"},
	{"trailing slash", func(m *Manifest) { m.Entries[3].Path = "a/x/" }, "empty component"},
	{"NUL in name", func(m *Manifest) { m.Entries[3].Path = "a/x\x00y" }, "NUL"},
	{"empty name", func(m *Manifest) { m.Entries[3].Path = "" }, "path"},
	{"dot name", func(m *Manifest) { m.Entries[3].Path = "a/." }, "\".\""},
	{"long component", func(m *Manifest) { m.Entries[3].Path = "a/" + strings.Repeat("x", 256) }, "longer"},
	{"duplicate", func(m *Manifest) { m.Entries[3].Path = "a/f" }, "duplicate"},
	{"missing parent", func(m *Manifest) { m.Entries[3].Path = "nope/x" }, "parent"},
	{"parent is a file", func(m *Manifest) { m.Entries[3].Path = "a/f/x" }, "parent"},
	{"child before parent", func(m *Manifest) { m.Entries[1], m.Entries[2] = m.Entries[2], m.Entries[1] }, "parent"},
	{"unknown kind", func(m *Manifest) { m.Entries[8].Kind = Kind(42) }, "kind"},
	{"mode beyond 07777", func(m *Manifest) { m.Entries[2].Mode = 0100644 }, "mode"},
	{"extent past piece end", func(m *Manifest) { m.Entries[2].Extents[0].Offset = 4 }, "outside"},
	{"extent negative offset", func(m *Manifest) { m.Entries[2].Extents[0].Offset = -1 }, "outside"},
	{"extent zero length", func(m *Manifest) { m.Entries[2].Extents[0].Length = 0 }, "outside"},
	{"extent overflow", func(m *Manifest) {
		m.Entries[2].Extents[0] = Extent{Piece: 0, Offset: 1 << 62, Length: 1<<63 - 1}
	}, "outside"},
	{"extent names missing piece", func(m *Manifest) { m.Entries[2].Extents[1].Piece = 7 }, "does not exist"},
	{"size larger than extents", func(m *Manifest) { m.Entries[2].Size = 13 }, "size"},
	{"size smaller than extents", func(m *Manifest) { m.Entries[2].Size = 11 }, "size"},
	{"absurd size", func(m *Manifest) { m.Entries[2].Size = 1 << 60 }, "size"},
	{"negative size", func(m *Manifest) { m.Entries[3].Size = -1 }, "size"},
	{"dir with extents", func(m *Manifest) { m.Entries[1].Extents = m.Entries[2].Extents }, "no size"},
	{"symlink without target", func(m *Manifest) { m.Entries[4].Target = "" }, "target"},
	{"symlink target with NUL", func(m *Manifest) { m.Entries[4].Target = "a\x00" }, "NUL"},
	{"file with target", func(m *Manifest) { m.Entries[3].Target = "x" }, "no target"},
	{"hardlink to missing", func(m *Manifest) { m.Entries[5].Target = "nope" }, "does not exist"},
	{"hardlink to dir", func(m *Manifest) { m.Entries[5].Target = "a" }, "is a dir"},
	{"hardlink to hardlink", func(m *Manifest) {
		m.Entries = append(m.Entries, Entry{Path: "hl2", Kind: KindHardlink, Target: "hl"})
	}, "is a hardlink"},
	{"xattr without namespace", func(m *Manifest) { m.Entries[2].Xattrs = map[string][]byte{"k": nil} }, "xattr"},
	{"xattr value too big", func(m *Manifest) {
		m.Entries[2].Xattrs = map[string][]byte{"user.k": make([]byte, MaxXattrValue+1)}
	}, "xattr"},
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range badManifests {
		t.Run(tc.name, func(t *testing.T) {
			m := sample()
			tc.edit(m)
			err := m.Validate()
			if err == nil {
				t.Fatal("Validate accepted a bad manifest")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	good, err := mustValidate(t, sample()).Encode()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"empty":         nil,
		"not json":      []byte("hello"),
		"trailing data": append(append([]byte{}, good...), []byte("{}")...),
		"bad digest":    bytes.Replace(good, []byte(`"sha256:`), []byte(`"md5:`), 1),
		"array":         []byte("[]"),
	} {
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: Decode accepted it", name)
		}
	}
}
