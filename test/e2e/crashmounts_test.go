package e2e

import (
	"testing"

	"github.com/piecefs/piecefs/internal/harness"
)

// crashMountCount is how many times dir is a mountpoint: a mount stacked
// on another counts twice.
func crashMountCount(t *testing.T, dir string) int {
	t.Helper()
	dirs, err := harness.Mountpoints()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
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
	if left, err := harness.MountsUnder(dir); err != nil || len(left) > 0 {
		t.Errorf("still mounted when the test ends: %q (%v)", left, err)
	}
}
