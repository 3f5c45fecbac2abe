package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// dmgTmpfs mounts a tmpfs with the given options (MS_ flags and data) on
// a new directory and unmounts it when the test ends, after the mounts
// started later have stopped.
func dmgTmpfs(t *testing.T, flags uintptr, data string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("piecefs-test", dir, "tmpfs", flags|unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
		missing(t, "mount a tmpfs (%s): %v", data, err)
	}
	t.Cleanup(func() { unmount(t, dir) })
	return dir
}

// dmgReadOnlyBind makes a read-only view of src on a new directory and
// removes it when the test ends.
func dmgReadOnlyBind(t *testing.T, src string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(src, dir, "", unix.MS_BIND, ""); err != nil {
		missing(t, "bind mount %s: %v", src, err)
	}
	t.Cleanup(func() { unmount(t, dir) })
	// A bind mount takes MS_RDONLY only in a remount of its own.
	if err := unix.Mount("", dir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
	return dir
}
