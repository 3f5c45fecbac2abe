package e2e

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// crashMountpoints lists the mountpoints in /proc/self/mounts, unescaped,
// with repeats (a mount stacked on another shows twice). It reads the
// table, never a mount, so a dead FUSE mount cannot hang it.
func crashMountpoints(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var dirs []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) > 1 {
			dirs = append(dirs, unescapeMount(fields[1]))
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return dirs
}

// crashMountCount is how many times dir is a mountpoint.
func crashMountCount(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, d := range crashMountpoints(t) {
		if d == dir {
			n++
		}
	}
	return n
}

// crashExpectNoMountsUnder fails the test if anything under dir is still
// mounted. Other tests may run mounts of their own on the machine at the
// same time, so only a test's own directory is looked at.
func crashExpectNoMountsUnder(t *testing.T, dir string) {
	t.Helper()
	var left []string
	for _, d := range crashMountpoints(t) {
		if d == dir || strings.HasPrefix(d, dir+string(filepath.Separator)) {
			left = append(left, d)
		}
	}
	if len(left) > 0 {
		t.Errorf("still mounted when the test ends: %q", left)
	}
}
