package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/internal/harness"
)

// onCI reports whether missing requirements must fail rather than skip.
func onCI() bool { return os.Getenv("CI") == "true" }

// missing fails the test on CI and skips it elsewhere.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if onCI() {
		t.Fatalf("%s (required with CI=true)", msg)
	}
	t.Skip(msg)
}

// requireFUSE checks that this process may mount FUSE file systems.
func requireFUSE(t *testing.T) {
	t.Helper()
	if err := probeFUSE(); err != nil {
		missing(t, "FUSE is unavailable: %v", err)
	}
}

// probeFUSE opens /dev/fuse and mounts it once on a scratch directory, by
// the syscalls themselves, so "FUSE is unavailable" is told by errno (no
// device, mounting not permitted) rather than by a piecefs error message.
// No server answers the mount, so it is detached at once, without a stat.
var probeFUSE = sync.OnceValue(func() error {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	dir, err := os.MkdirTemp("", "piecefs-fuse-probe-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	opts := fmt.Sprintf("fd=%d,rootmode=40000,user_id=%d,group_id=%d", f.Fd(), os.Getuid(), os.Getgid())
	if err := unix.Mount("piecefs-probe", dir, "fuse.piecefs-probe", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_RDONLY, opts); err != nil {
		return fmt.Errorf("mount a FUSE file system: %w", err)
	}
	return unix.Unmount(dir, unix.MNT_DETACH)
})

// requireTool checks that name is on PATH.
func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		missing(t, "%s is not installed: %v", name, err)
	}
}

// requireNginx checks that nginx is installed, on PATH or where Debian
// puts it.
func requireNginx(t *testing.T) {
	t.Helper()
	if _, err := harness.NginxPath(); err != nil {
		missing(t, "%v", err)
	}
}

// TestPrerequisites names each requirement of the suite on its own, so a
// CI machine that lacks one fails here with a clear message even if the
// tests that need it were not selected.
func TestPrerequisites(t *testing.T) {
	checks := map[string]func(t *testing.T){
		"fuse":     requireFUSE,
		"nginx":    requireNginx,
		"getfattr": func(t *testing.T) { requireTool(t, "getfattr") },
		"curl":     func(t *testing.T) { requireTool(t, "curl") },
		"umount":   func(t *testing.T) { requireTool(t, "umount") },
		"tmux":     func(t *testing.T) { requireTool(t, "tmux") },
		"runc":     func(t *testing.T) { requireTool(t, "runc") },
		"umoci":    func(t *testing.T) { requireTool(t, "umoci") },
		"skopeo":   func(t *testing.T) { requireTool(t, "skopeo") },
		"setcap":   func(t *testing.T) { requireTool(t, "setcap") },
		"promtool": func(t *testing.T) { requireTool(t, "promtool") },
		"squid":    func(t *testing.T) { requireTool(t, "squid") },
		"ip":       func(t *testing.T) { requireTool(t, "ip") },
		"nsenter":  func(t *testing.T) { requireTool(t, "nsenter") },
		"root": func(t *testing.T) {
			if os.Geteuid() != 0 {
				missing(t, "the tests chown, mknod and mount: they need root, not uid %d", os.Geteuid())
			}
		},
	}
	for name, check := range checks {
		t.Run(name, check)
	}
}
