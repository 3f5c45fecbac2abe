package meta

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeManifest checks that Decode never panics, that it agrees with
// json.Unmarshal followed by Validate, and that whatever it accepts
// re-encodes to something it accepts again with the same meaning.
func FuzzDecodeManifest(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkLikeUnmarshal(t, b)
		m, err := Decode(b)
		if err != nil {
			return
		}
		for i := range m.Entries {
			e := &m.Entries[i]
			_ = m.AppendSlices(nil, e, 0, e.Size)
			_ = m.Nlink(i)
			if j, ok := m.Lookup(e.Path); !ok || j != i {
				t.Fatalf("Lookup(%q) = %d, %v; want %d", e.Path, j, ok, i)
			}
		}
		enc, err := m.Encode()
		if err != nil {
			t.Fatalf("Encode of a decoded manifest: %v", err)
		}
		if _, err := Decode(enc); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	f.Add("sha256:" + Sum(nil).Hex())
	f.Add("sha256:zz")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDigest(s)
		if err == nil && d.String() != s {
			t.Fatalf("ParseDigest(%q) round trips to %q", s, d.String())
		}
	})
}
