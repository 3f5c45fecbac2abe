package e2e

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// check is one read check of a mount of the shared tree.
type check func(t *testing.T, mnt string)

// treeChecks are run against every configuration of a mount of the shared
// tree: together they compare all of it with the source.
var treeChecks = map[string]check{
	"names":     checkNames,
	"contents":  checkContents,
	"stat":      checkStat,
	"hardlinks": checkHardlinks,
	"symlinks":  checkSymlinks,
	"xattrs":    checkXattrs,
	"specials":  checkSpecials,
	"empty-dir": checkEmptyDir,
	"read-only": checkReadOnly,
}

// sampleChecks are a cheaper subset for other origins.
var sampleChecks = map[string]check{
	"names":           checkNames,
	"contents-sample": checkContentsSample,
	"stat":            checkStat,
}

// runChecks runs checks in name order, each as a subtest.
func runChecks(t *testing.T, mnt string, checks map[string]check) {
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		t.Run(name, func(t *testing.T) { checks[name](t, mnt) })
	}
}

// checkNames compares the names under the mount, as find lists them, with
// the source's.
func checkNames(t *testing.T, mnt string) {
	want, err := sourceNames(fx.tree.root)
	if err != nil {
		t.Fatal(err)
	}
	got := lines(mustRun(t, mnt, "find", ".", "-mindepth", "1", "-printf", "%P\n"))
	slices.Sort(want)
	slices.Sort(got)
	if missing, extra := diffSorted(want, got); len(missing)+len(extra) > 0 {
		t.Errorf("names: %d missing from the mount %q, %d extra %q", len(missing), firstN(missing), len(extra), firstN(extra))
	}
}

// checkContents hashes every regular file on the mount with sha256sum.
func checkContents(t *testing.T, mnt string) {
	compareHashes(t, mnt, slices.Sorted(maps.Keys(fx.tree.hashes)))
}

// checkContentsSample hashes the big file, the piece-size files and every
// twentieth small file.
func checkContentsSample(t *testing.T, mnt string) {
	paths := []string{fx.tree.big}
	for p := range fx.tree.hashes {
		if strings.HasPrefix(p, "sizes/") {
			paths = append(paths, p)
		}
	}
	for i := 0; i < len(fx.tree.small); i += 20 {
		paths = append(paths, fx.tree.small[i])
	}
	compareHashes(t, mnt, paths)
}

func compareHashes(t *testing.T, mnt string, paths []string) {
	got := sha256sums(t, mnt, paths...)
	for _, p := range paths {
		if got[p] != fx.tree.hashes[p] {
			t.Errorf("sha256 of %s: got %q, want %s", p, got[p], fx.tree.hashes[p])
		}
	}
}

// sha256sums runs sha256sum in dir over paths and returns path → hex.
func sha256sums(t *testing.T, dir string, paths ...string) map[string]string {
	t.Helper()
	out := mustRun(t, dir, "sha256sum", append([]string{"--"}, paths...)...)
	sums := map[string]string{}
	for _, l := range lines(out) {
		sum, name, ok := strings.Cut(l, "  ")
		if !ok {
			t.Fatalf("sha256sum printed %q", l)
		}
		sums[name] = sum
	}
	return sums
}

// statFormat is what checkStat compares: type, raw mode (with setuid,
// setgid and sticky), owner, size, link count, mtime in seconds and with
// nanoseconds, device numbers.
const statFormat = "%F|%f|%u|%g|%s|%h|%Y|%y|%t|%T"

// checkStat compares stat of every entry, the root included, with the
// source. A directory's size is the file system's own business and is not
// compared.
func checkStat(t *testing.T, mnt string) {
	names, err := sourceNames(fx.tree.root)
	if err != nil {
		t.Fatal(err)
	}
	names = append([]string{"."}, names...)
	want := statLines(t, fx.tree.root, names)
	got := statLines(t, mnt, names)
	var bad []string
	for i, name := range names {
		if got[i] != want[i] {
			bad = append(bad, fmt.Sprintf("%s: got %q, want %q", name, got[i], want[i]))
		}
	}
	if len(bad) > 0 {
		t.Errorf("stat -c '%s' differs for %d of %d entries:\n%s", statFormat, len(bad), len(names), strings.Join(firstN(bad), "\n"))
	}
}

func statLines(t *testing.T, dir string, names []string) []string {
	t.Helper()
	out := lines(mustRun(t, dir, "stat", append([]string{"-c", statFormat, "--"}, names...)...))
	if len(out) != len(names) {
		t.Fatalf("stat in %s printed %d lines for %d names", dir, len(out), len(names))
	}
	for i, l := range out {
		f := strings.Split(l, "|")
		if f[0] == "directory" {
			f[4] = "-"
		}
		out[i] = strings.Join(f, "|")
	}
	return out
}

// checkHardlinks checks that each group of names shares one inode whose
// link count is the group's size, and that groups do not share inodes.
func checkHardlinks(t *testing.T, mnt string) {
	seen := map[string]string{} // inode → group's first name
	for _, group := range fx.tree.hardlinks {
		var ino string
		for _, name := range group {
			f := strings.Fields(string(mustRun(t, mnt, "stat", "-c", "%i %h", "--", name)))
			if ino == "" {
				ino = f[0]
			}
			if f[0] != ino {
				t.Errorf("%s: inode %s, want %s as %s", name, f[0], ino, group[0])
			}
			if f[1] != strconv.Itoa(len(group)) {
				t.Errorf("%s: %s links, want %d", name, f[1], len(group))
			}
		}
		if other, dup := seen[ino]; dup {
			t.Errorf("%s and %s share inode %s", group[0], other, ino)
		}
		seen[ino] = group[0]
	}
}

// checkSymlinks compares readlink with the source and follows the
// relative link inside the mount.
func checkSymlinks(t *testing.T, mnt string) {
	for name, want := range fx.tree.symlinks {
		got := strings.TrimSuffix(string(mustRun(t, mnt, "readlink", "--", name)), "\n")
		if got != want {
			t.Errorf("readlink %s: got %q, want %q", name, got, want)
		}
	}
	got := sha256sums(t, mnt, "links/relative")["links/relative"]
	if want := fx.tree.hashes["sizes/one"]; got != want {
		t.Errorf("sha256 through links/relative: got %s, want %s (of sizes/one)", got, want)
	}
}

func checkXattrs(t *testing.T, mnt string) {
	requireTool(t, "getfattr")
	for name, want := range fx.tree.xattrs {
		got := string(mustRun(t, mnt, "getfattr", "-n", xattrName, "--only-values", "--", name))
		if got != want {
			t.Errorf("getfattr -n %s %s: got %q, want %q", xattrName, name, got, want)
		}
	}
}

// checkSpecials checks the fifo's and devices' types and numbers; stat of
// the whole tree compares them too, this names them.
func checkSpecials(t *testing.T, mnt string) {
	if len(fx.tree.devices) == 0 {
		t.Log("mknod was refused when generating the tree: devices not checked")
	}
	for _, name := range append([]string{fx.tree.fifo}, fx.tree.devices...) {
		want := string(mustRun(t, fx.tree.root, "stat", "-c", "%F %t %T", "--", name))
		got := string(mustRun(t, mnt, "stat", "-c", "%F %t %T", "--", name))
		if got != want {
			t.Errorf("stat %s: got %q, want %q", name, got, want)
		}
	}
}

func checkEmptyDir(t *testing.T, mnt string) {
	if got := mustRun(t, mnt, "ls", "-A", "--", fx.tree.emptyDir); len(got) != 0 {
		t.Errorf("ls -A %s: got %q, want nothing", fx.tree.emptyDir, got)
	}
}

// checkReadOnly tries to create, write and remove, with tools and with
// the syscall, and expects EROFS everywhere.
func checkReadOnly(t *testing.T, mnt string) {
	target := filepath.Join(mnt, "sizes/one")
	attempts := [][]string{
		{"touch", filepath.Join(mnt, "new-file")},
		{"sh", "-c", `echo x > "$1"`, "sh", target},
		{"mkdir", filepath.Join(mnt, "new-dir")},
		{"rm", "-f", target},
	}
	for _, a := range attempts {
		mustFail(t, toolTimeout, "Read-only file system", a[0], a[1:]...)
	}
	f, err := os.OpenFile(target, os.O_WRONLY, 0)
	if err == nil {
		f.Close()
	}
	if !errors.Is(err, syscall.EROFS) {
		t.Errorf("open %s for writing: %v, want EROFS", target, err)
	}
	if got := sha256sums(t, mnt, "sizes/one")["sizes/one"]; got != fx.tree.hashes["sizes/one"] {
		t.Errorf("sizes/one changed after write attempts: sha256 %s", got)
	}
}
