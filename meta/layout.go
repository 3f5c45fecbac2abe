package meta

import (
	"fmt"
	"path"
)

// The origin layout: where a published tree's objects live relative to the
// origin's base URL (or the publish output directory). Pieces and manifests
// are immutable and named by digest; tags are the only mutable files.

// PiecePath is where the piece with digest d lives: "pieces/ab/<hex>". The
// two-digit fan-out keeps directories small for object stores and file
// systems alike.
func PiecePath(d Digest) string {
	h := d.Hex()
	return path.Join("pieces", h[:2], h)
}

// ManifestPath is where the manifest with digest d lives.
func ManifestPath(d Digest) string { return path.Join("manifests", d.Hex()+".json") }

// TagPath is where tag name lives; the file holds the manifest's digest in
// text form followed by a newline.
func TagPath(name string) string { return path.Join("tags", name) }

// ValidTag reports whether name can be used as a tag: 1–128 characters from
// [A-Za-z0-9._-], not starting with '.' or '-'.
func ValidTag(name string) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("tag %q: want 1 to 128 characters", name)
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("tag %q: must not start with '.' or '-'", name)
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("tag %q: character %q not allowed (use A-Z a-z 0-9 . _ -)", name, c)
		}
	}
	return nil
}
