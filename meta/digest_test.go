package meta

import (
	"strings"
	"testing"
)

func TestParseDigest(t *testing.T) {
	good := Sum([]byte("x"))
	if got, err := ParseDigest(good.String()); err != nil || got != good {
		t.Fatalf("ParseDigest(%s) = %v, %v", good, got, err)
	}
	for _, s := range []string{
		"", "sha256:", good.Hex(), "md5:" + good.Hex(), "sha256:" + strings.ToUpper(good.Hex()),
		"sha256:" + good.Hex()[:63], "sha256:" + good.Hex() + "0", "sha256:" + strings.Repeat("g", 64),
	} {
		if _, err := ParseDigest(s); err == nil {
			t.Errorf("ParseDigest(%q) accepted it", s)
		}
	}
}

func TestValidTag(t *testing.T) {
	for _, ok := range []string{"latest", "v1.2.3", "a_b-c", strings.Repeat("x", 128)} {
		if err := ValidTag(ok); err != nil {
			t.Errorf("ValidTag(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../x", "a/b", "-x", ".hidden", "a b", "é", strings.Repeat("x", 129)} {
		if ValidTag(bad) == nil {
			t.Errorf("ValidTag(%q) accepted it", bad)
		}
	}
}

func TestLayoutPaths(t *testing.T) {
	d := Sum([]byte("x"))
	if got, want := PiecePath(d), "pieces/"+d.Hex()[:2]+"/"+d.Hex(); got != want {
		t.Errorf("PiecePath = %s, want %s", got, want)
	}
	if got, want := ManifestPath(d), "manifests/"+d.Hex()+".json"; got != want {
		t.Errorf("ManifestPath = %s, want %s", got, want)
	}
}
