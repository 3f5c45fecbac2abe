package e2e

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// umociImage builds a real three-layer OCI image with umoci in dir's
// layout "oci", tag "t", and returns the layout's path:
//
//   - layer 0: etc/{keep (1000:100), change, gone}, opq/{a, sub/b}, a
//     setuid script with a hardlink, a file with security.capability (by
//     setcap), a symlink, a character device;
//   - layer 1: etc/change changed, etc/gone deleted, a hardlink to
//     etc/keep;
//   - layer 2: opq made opaque (.wh..wh..opq, added with umoci raw
//     add-layer, since umoci's own diff writes one whiteout a name) holding
//     only c2, and a new directory.
func umociImage(t *testing.T, dir string) string {
	t.Helper()
	oci := filepath.Join(dir, "oci")
	mustRun(t, dir, "umoci", "init", "--layout", oci)
	mustRun(t, dir, "umoci", "new", "--image", oci+":t")
	layer := func(name string, edit func(root string)) {
		b := filepath.Join(dir, name)
		mustRun(t, dir, "umoci", "unpack", "--image", oci+":t", b)
		edit(filepath.Join(b, "rootfs"))
		mustRun(t, dir, "umoci", "repack", "--image", oci+":t", b)
	}
	layer("b0", func(r string) {
		for p, body := range map[string]string{"etc/keep": "keep\n", "etc/change": "v1\n", "etc/gone": "gone\n",
			"opq/a": "a\n", "opq/sub/b": "b\n", "bin/su": "#!/bin/sh\necho su\n", "bin/ping": "ping\n"} {
			writeFile(t, filepath.Join(r, p), body)
		}
		must(t, unix.Chmod(filepath.Join(r, "bin/su"), 0o4755)) // os.Chmod would drop 04000: it wants os.ModeSetuid
		must(t, os.Link(filepath.Join(r, "bin/su"), filepath.Join(r, "bin/su2")))
		must(t, os.Chown(filepath.Join(r, "etc/keep"), 1000, 100))
		must(t, os.Symlink("etc/keep", filepath.Join(r, "lnk")))
		must(t, unix.Mknod(filepath.Join(r, "null"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))))
		mustRun(t, dir, "setcap", "cap_net_raw+ep", filepath.Join(r, "bin/ping"))
	})
	layer("b1", func(r string) {
		writeFile(t, filepath.Join(r, "etc/change"), "v2, longer\n")
		must(t, os.Remove(filepath.Join(r, "etc/gone")))
		must(t, os.Link(filepath.Join(r, "etc/keep"), filepath.Join(r, "etc/keep2")))
	})
	opaque := filepath.Join(dir, "opaque.tar")
	writeTar(t, opaque, map[string]string{"opq/": "", "opq/.wh..wh..opq": "", "opq/c2": "c2\n", "new/": "", "new/n": "n\n"})
	mustRun(t, dir, "umoci", "raw", "add-layer", "--image", oci+":t", opaque)
	return oci
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p, body string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(body), 0o644))
}

// writeTar writes a layer: names ending in / are directories.
func writeTar(t *testing.T, p string, files map[string]string) {
	t.Helper()
	f, err := os.Create(p)
	must(t, err)
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[name]))}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		must(t, tw.WriteHeader(h))
		_, err := io.WriteString(tw, files[name])
		must(t, err)
	}
	must(t, tw.Close())
}

// treeLines describes every entry under root, one line each, sorted: path,
// type, mode, owner, size (not a directory's), link count, device
// numbers, mtime to the nanosecond, symlink target, content's sha256 and
// xattrs (piecefs's own user.piecefs.* left out).
func treeLines(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line, err := entryLine(p)
		out = append(out, rel+" "+line)
		return err
	})
	must(t, err)
	slices.Sort(out)
	return out
}

func entryLine(p string) (string, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return "", err
	}
	size := fmt.Sprint(st.Size)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		size = "-"
	}
	line := fmt.Sprintf("mode=%o uid=%d gid=%d size=%s nlink=%d rdev=%d:%d mtime=%d", st.Mode, st.Uid, st.Gid, size, st.Nlink,
		unix.Major(st.Rdev), unix.Minor(st.Rdev), st.Mtim.Nano())
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		target, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		line += " -> " + target
	case unix.S_IFREG:
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(b)
		line += " sha256=" + hex.EncodeToString(sum[:])
	}
	x, err := xattrLine(p)
	return line + x, err
}

func xattrLine(p string) (string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return "", fmt.Errorf("listxattr %s: %w", p, err)
	}
	var names []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name != "" && !strings.HasPrefix(name, "user.piecefs.") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var s string
	for _, name := range names {
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			return "", fmt.Errorf("getxattr %s %s: %w", p, name, err)
		}
		s += fmt.Sprintf(" %s=%x", name, v[:m])
	}
	return s, nil
}
