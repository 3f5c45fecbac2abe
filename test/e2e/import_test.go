package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestImportImage builds a real multi-layer image with umoci, converts it
// with skopeo to a docker save archive and an OCI archive, imports all
// three forms, and compares each mount with umoci's own unpacking of the
// image: names, types, modes, owners, sizes, contents, xattrs, link
// counts, and mtimes to the nanosecond.
func TestImportImage(t *testing.T) {
	for _, tool := range []string{"umoci", "skopeo", "setcap"} {
		requireTool(t, tool)
	}
	requireFUSE(t)
	dir := t.TempDir()
	oci := umociImage(t, dir)
	ref := filepath.Join(dir, "ref")
	mustRun(t, dir, "umoci", "unpack", "--image", oci+":t", ref)
	want := treeLines(t, filepath.Join(ref, "rootfs"))
	checkReference(t, want)
	docker, archive := filepath.Join(dir, "docker.tar"), filepath.Join(dir, "oci.tar")
	mustRun(t, dir, "skopeo", "copy", "oci:"+oci+":t", "docker-archive:"+docker+":example.com/t:1")
	mustRun(t, dir, "skopeo", "copy", "oci:"+oci+":t", "oci-archive:"+archive+":t")

	digests := map[string]string{}
	for _, form := range []struct{ name, image string }{
		{"layout", oci + ":t"}, {"docker-archive", docker}, {"oci-archive", archive + ":t"},
	} {
		t.Run(form.name, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+form.name)
			o := runTool(toolTimeout, dir, fx.bin, "import", "--piece-size", "64KiB", form.image, out)
			if o.err != nil || !digestLine.Match(o.stdout) {
				t.Fatalf("piecefs import %s: %v, stdout %q\n%s", form.image, o.err, o.stdout, tail(o.stderr))
			}
			digests[form.name] = strings.TrimSpace(string(o.stdout))
			m := startMount(t, startServeOrigin(t, out), t.TempDir())
			defer m.Stop(t)
			got := treeLines(t, m.dir)
			if !slices.Equal(got, want) {
				missing, extra := diffSorted(want, got)
				t.Errorf("the mount differs from umoci unpack:\nonly in umoci's: %q\nonly in the mount: %q", missing, extra)
			}
			checkImportedTree(t, m.dir)
		})
	}
	if digests["layout"] != digests["docker-archive"] || digests["layout"] != digests["oci-archive"] {
		t.Errorf("three forms of one image imported to different manifests: %v", digests)
	}
}

// checkImportedTree names what the comparison covers: a whiteout'd file
// is absent, an opaque directory shows only the upper layer's entries, and
// whiteout files are not shipped.
func checkImportedTree(t *testing.T, mnt string) {
	if _, err := os.Lstat(filepath.Join(mnt, "etc/gone")); !os.IsNotExist(err) {
		t.Errorf("etc/gone, deleted by layer 1: %v, want it absent", err)
	}
	names, err := os.ReadDir(filepath.Join(mnt, "opq"))
	if err != nil || len(names) != 1 || names[0].Name() != "c2" {
		t.Errorf("opq, made opaque by layer 2, lists %v (%v); want only c2", names, err)
	}
	if b, _ := os.ReadFile(filepath.Join(mnt, "etc/change")); string(b) != "v2, longer\n" {
		t.Errorf("etc/change: %q, want layer 1's", b)
	}
	if st, err := os.Stat(filepath.Join(mnt, "bin/su")); err != nil || st.Mode()&os.ModeSetuid == 0 {
		t.Errorf("bin/su: %v, %v; want setuid", st, err)
	}
}

// checkReference makes sure umoci's tree has what the comparison is meant
// to cover, so a tool that dropped something cannot make it vacuous.
func checkReference(t *testing.T, want []string) {
	t.Helper()
	for _, w := range []string{"bin/ping mode=100644 ", "security.capability=", "bin/su mode=104755 ", "bin/su2 mode=104755 ",
		"etc/keep mode=100644 uid=1000 gid=100 size=5 nlink=2", "null mode=20644 ", "lnk mode=120777 ", "opq/c2 ", "new/n "} {
		if !slices.ContainsFunc(want, func(l string) bool { return strings.Contains(l, w) }) {
			t.Fatalf("umoci unpack has no entry like %q:\n%s", w, strings.Join(want, "\n"))
		}
	}
	t.Logf("umoci unpack: %d entries", len(want))
}

// TestImportBadImage: a layer blob damaged on disk fails the import with
// a message naming the layer and the damage, and OUT_DIR gets no tag.
func TestImportBadImage(t *testing.T) {
	requireTool(t, "umoci")
	dir := t.TempDir()
	oci := filepath.Join(dir, "oci")
	mustRun(t, dir, "umoci", "init", "--layout", oci)
	mustRun(t, dir, "umoci", "new", "--image", oci+":t")
	b := filepath.Join(dir, "b")
	mustRun(t, dir, "umoci", "unpack", "--image", oci+":t", b)
	must(t, os.WriteFile(filepath.Join(b, "rootfs", "f"), []byte(strings.Repeat("some content ", 1000)), 0o644))
	mustRun(t, dir, "umoci", "repack", "--image", oci+":t", b)
	blobs, err := filepath.Glob(filepath.Join(oci, "blobs", "sha256", "*"))
	must(t, err)
	damaged := 0
	for _, p := range blobs {
		if data, err := os.ReadFile(p); err == nil && len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
			data[len(data)/2] ^= 0xff
			must(t, os.WriteFile(p, data, 0o644))
			damaged++
		}
	}
	if damaged != 1 {
		t.Fatalf("damaged %d gzip blobs, want the one layer", damaged)
	}
	out := filepath.Join(dir, "out")
	o := mustFail(t, toolTimeout, "corrupt blob", fx.bin, "import", oci+":t", out)
	if !strings.Contains(string(o.stderr), "layer 0 (sha256:") {
		t.Errorf("stderr does not name the layer:\n%s", o.stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "tags", "latest")); !os.IsNotExist(err) {
		t.Errorf("tags/latest after a failed import: %v", err)
	}
}
