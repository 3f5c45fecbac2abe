package image

import (
	"archive/tar"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/piecefs/piecefs/meta"
)

const capability = "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

// twoLayers is an image of every case the flattening handles.
func twoLayers(t *testing.T) v1.Image {
	lower := layerOf(t,
		dir("./"), dir("etc"), file("etc/keep", "kept"), file("etc/change", "v1"), file("etc/gone", "x"),
		dir("etc/dir"), file("etc/dir/inner", "in"),
		dir("opq"), file("opq/a", "a"), dir("opq/sub"), file("opq/sub/b", "b"),
		dir("usr"), dir("usr/bin"), withMode(file("usr/bin/su", "setuid"), 0o4755),
		hardlink("usr/bin/su2", "usr/bin/su"),
		withPAX(file("usr/bin/ping", "ping"), "SCHILY.xattr.security.capability", capability),
		dir("h"), file("h/x", "shared"), hardlink("h/y", "h/x"),
		symlink("lib", "usr/lib"), dir("dev"),
		device("dev/null", tar.TypeChar, 1, 3), device("dev/sda", tar.TypeBlock, 8, 0),
		ent{name: "fifo", typ: tar.TypeFifo, mode: 0o644},
		withPAX(file("acl", "a"), "SCHILY.xattr.system.posix_acl_access", "x"),
	)
	upper := layerOf(t,
		file("etc/change", "v2"), whiteout("etc", "gone"), whiteout("etc", "dir"), file("etc/new", "new"),
		dir("opq"), opaque("opq"), file("opq/c", "c"),
		hardlink("etc/keep-link", "etc/keep"), whiteout("h", "x"),
		file("opq/.wh..wh.plnk", ""),
	)
	return imageOf(t, lower, upper)
}

func TestFlatten(t *testing.T) {
	d := writeLayout(t, map[string]v1.Image{"v1": twoLayers(t)})
	m, s, err := build(t, d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range m.Entries {
		paths = append(paths, e.Path)
	}
	want := []string{".", "acl", "dev", "dev/null", "dev/sda", "etc", "etc/change", "etc/keep", "etc/keep-link", "etc/new",
		"fifo", "h", "h/y", "lib", "opq", "opq/c", "usr", "usr/bin", "usr/bin/ping", "usr/bin/su", "usr/bin/su2"}
	if got := slices.Sorted(slices.Values(paths)); !slices.Equal(got, want) {
		t.Fatalf("paths\n got %q\nwant %q", got, want)
	}
	for p, body := range map[string]string{"etc/change": "v2", "etc/keep": "kept", "etc/keep-link": "kept", "etc/new": "new",
		"h/y": "shared", "opq/c": "c", "usr/bin/su": "setuid", "usr/bin/su2": "setuid", "usr/bin/ping": "ping"} {
		if got := content(t, m, s, p); got != body {
			t.Errorf("%s: %q, want %q", p, got, body)
		}
	}
	entry := func(p string) meta.Entry {
		i, _ := m.Lookup(p)
		return m.Entries[i]
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"setuid kept", entry("usr/bin/su").Mode == 0o4755},
		{"owner kept", entry("usr/bin/su").UID == 1000 && entry("usr/bin/su").GID == 100},
		{"mtime kept to the nanosecond", entry("etc/new").Mtime == mtime.UnixNano()},
		{"capability kept", string(entry("usr/bin/ping").Xattrs["security.capability"]) == capability},
		{"system.* left out", entry("acl").Xattrs == nil},
		{"hardlink in a layer", entry("usr/bin/su2").Kind == meta.KindHardlink && entry("usr/bin/su2").Target == "usr/bin/su"},
		{"hardlink across layers", entry("etc/keep-link").Kind == meta.KindHardlink && entry("etc/keep-link").Target == "etc/keep"},
		{"a hardlink's target removed: the other name keeps the inode", entry("h/y").Kind == meta.KindFile},
		{"symlink", entry("lib").Kind == meta.KindSymlink && entry("lib").Target == "usr/lib"},
		{"char device", entry("dev/null").Kind == meta.KindChar && entry("dev/null").DevMajor == 1 && entry("dev/null").DevMinor == 3},
		{"block device", entry("dev/sda").Kind == meta.KindBlock && entry("dev/sda").DevMajor == 8},
		{"fifo", entry("fifo").Kind == meta.KindFifo},
		{"root from ./", entry(".").Mode == 0o755 && entry(".").UID == 1000},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: no", c.name)
		}
	}
	if n := m.Nlink(m.Inode(func() int { i, _ := m.Lookup("usr/bin/su"); return i }())); n != 2 {
		t.Errorf("usr/bin/su: %d links, want 2", n)
	}
	im := m.Image
	if im == nil || im.OS != "linux" || im.Architecture != "amd64" || im.WorkingDir != "/srv" || im.User != "1000:100" ||
		!slices.Equal(im.Entrypoint, []string{"/bin/sh"}) || !slices.Equal(im.Cmd, []string{"-c", "echo hi"}) || !slices.Equal(im.Env, []string{"PATH=/bin"}) {
		t.Errorf("image config %+v", im)
	}
}

// TestReplace covers a name changing kind between layers: a directory
// replaced by a file drops what it held; a file replaced by a directory.
func TestReplace(t *testing.T) {
	img := imageOf(t,
		layerOf(t, dir("a"), file("a/x", "x"), file("b", "b")),
		layerOf(t, file("a", "file now"), dir("b"), file("b/y", "y"), dir("c/d")),
		layerOf(t, dir("e"), dir("e/f"), file("e/f/g", "g")),
		layerOf(t, whiteout(".", "e"), whiteout("e/f", "g"), whiteout("e", "f")), // redundant, in any order
	)
	m, s, err := build(t, writeLayout(t, map[string]v1.Image{"x": img}), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Lookup("a/x"); ok {
		t.Error("a/x survives its directory's replacement")
	}
	if got := content(t, m, s, "a"); got != "file now" {
		t.Errorf("a: %q", got)
	}
	if got := content(t, m, s, "b/y"); got != "y" {
		t.Errorf("b/y: %q", got)
	}
	if _, ok := m.Lookup("e"); ok {
		t.Error("e survives its whiteout")
	}
	if i, ok := m.Lookup("c"); !ok || m.Entries[i].Kind != meta.KindDir || m.Entries[i].Mode != 0o755 {
		t.Error("c, the implicit parent of c/d, is not a directory 0755")
	}
}
