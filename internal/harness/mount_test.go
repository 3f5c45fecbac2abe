package harness

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// digest is a well-formed manifest digest for ready lines.
var digest = "sha256:" + strings.Repeat("ab", 32)

// requireRoot skips a test that mounts when it cannot, and fails it with
// CI=true.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mounting needs root, not uid %d (required with CI=true)", os.Geteuid())
		}
		t.Skip("mounting needs root")
	}
}

// mountpoint returns a new directory whose name needs escaping in the
// mount table, and unmounts whatever is left on it when the test ends.
func mountpoint(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt a\tb")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Unmount(dir); err != nil {
			t.Error(err)
		}
	})
	return dir
}

func mountTmpfs(t *testing.T, dir string) {
	t.Helper()
	if err := unix.Mount("harness-test", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=1m"); err != nil {
		t.Fatal(err)
	}
}

func isMounted(t *testing.T, dir string) bool {
	t.Helper()
	m, err := IsMounted(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUnescapeMount(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`/mnt/a\040b`, "/mnt/a b"},
		{`/mnt/tab\011x`, "/mnt/tab\tx"},
		{`/mnt/back\134slash`, `/mnt/back\slash`},
		{`/plain`, "/plain"},
		{`/odd\04`, `/odd\04`},
		{`/not\999octal`, `/not\999octal`},
	} {
		if got := UnescapeMount(tt.in); got != tt.want {
			t.Errorf("UnescapeMount(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestMountTable stacks two tmpfs mounts on a directory whose name needs
// escaping, then unmounts both.
func TestMountTable(t *testing.T) {
	requireRoot(t)
	dir := mountpoint(t)
	if isMounted(t, dir) {
		t.Fatalf("%s is mounted before the test mounts it", dir)
	}
	mountTmpfs(t, dir)
	mountTmpfs(t, dir)
	if !isMounted(t, dir) {
		t.Fatalf("IsMounted(%q) = false after mounting it", dir)
	}
	under, err := MountsUnder(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{dir, dir}; !slices.Equal(under, want) {
		t.Errorf("MountsUnder(parent) = %q, want %q", under, want)
	}
	if other, _ := MountsUnder(dir + "x"); len(other) != 0 {
		t.Errorf("MountsUnder of a sibling name = %q, want none", other)
	}
	if err := Unmount(dir); err != nil {
		t.Fatal(err)
	}
	if isMounted(t, dir) {
		t.Errorf("%s still mounted after Unmount", dir)
	}
	if err := WaitUnmounted(timeout(t, time.Second), dir); err != nil {
		t.Error(err)
	}
	if err := Unmount(dir); err != nil {
		t.Errorf("Unmount of a directory with nothing mounted: %v", err)
	}
}

// TestUnmountBusy unmounts a mount that a process holds open: lazily.
func TestUnmountBusy(t *testing.T) {
	requireRoot(t)
	dir := mountpoint(t)
	mountTmpfs(t, dir)
	f, err := os.Create(filepath.Join(dir, "held"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Unmount(dir); err != nil {
		t.Fatal(err)
	}
	if isMounted(t, dir) {
		t.Errorf("%s still mounted after Unmount", dir)
	}
}

// fakeMount is a shell that mounts a tmpfs on $1, prints $2 as its ready
// line, and unmounts and exits 0 on SIGTERM, as piecefs mount does.
const fakeMount = `trap 'umount "$1"; exit 0' TERM
mount -t tmpfs -o size=1m harness-test "$1" || exit 1
echo "$2"
while :; do sleep 0.05; done`

func TestStartMount(t *testing.T) {
	requireRoot(t)
	dir := mountpoint(t)
	m, err := StartMount(timeout(t, 10*time.Second), Command{Path: "sh", Args: []string{"-c", fakeMount, "sh", dir, "mounted " + digest + " at " + dir}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Digest != digest || m.Dir != dir || m.Ready.IsZero() {
		t.Errorf("Mount = %q, %q, ready %v; want %q, %q, a time", m.Digest, m.Dir, m.Ready, digest, dir)
	}
	if err := m.Stop(context.Background(), 10*time.Second); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if isMounted(t, dir) || !m.Exited() {
		t.Errorf("after Stop: mounted %v, exited %v; want neither mounted nor running", isMounted(t, dir), m.Exited())
	}
}

// TestStartMountFails starts children that fail in different ways:
// StartMount must say so and leave nothing mounted or running.
func TestStartMountFails(t *testing.T) {
	requireRoot(t)
	for name, tt := range map[string]struct {
		script, line, want string
	}{
		"wrong line":       {fakeMount, "hello", `printed "hello"`},
		"other mountpoint": {fakeMount, "mounted " + digest + " at /elsewhere", "/elsewhere"},
		"not mounted":      {`echo "$2"; sleep 1000`, "mounted " + digest + " at {dir}", "not in the mount table"},
		"exits":            {`echo failing >&2; exit 1`, "", "failing"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := mountpoint(t)
			line := strings.ReplaceAll(tt.line, "{dir}", dir)
			m, err := StartMount(timeout(t, 10*time.Second), Command{Path: "sh", Args: []string{"-c", tt.script, "sh", dir, line}}, dir)
			if err == nil {
				_ = m.Stop(context.Background(), time.Second)
				t.Fatal("StartMount succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("StartMount: %v, want it to say %q", err, tt.want)
			}
			if isMounted(t, dir) {
				t.Errorf("%s left mounted", dir)
			}
		})
	}
}

// TestWaitMounted waits for a mount that prints nothing when ready.
func TestWaitMounted(t *testing.T) {
	requireRoot(t)
	dir := mountpoint(t)
	p := start(t, Command{Path: "sh", Args: []string{"-c", "sleep 0.2; " + fakeMount, "sh", dir, ""}})
	seen, err := WaitMounted(timeout(t, 10*time.Second), p, dir)
	if err != nil {
		t.Fatal(err)
	}
	if seen.Sub(p.StartTime()) < 200*time.Millisecond {
		t.Errorf("WaitMounted saw the mount %v after the start, before the child mounted it", seen.Sub(p.StartTime()))
	}
	m := &Mount{Process: p, Dir: dir, Ready: seen}
	if err := m.Stop(context.Background(), 10*time.Second); err != nil {
		t.Error(err)
	}
	q := start(t, Command{Path: "true"})
	if _, err := WaitMounted(timeout(t, 10*time.Second), q, mountpoint(t)); !errors.Is(err, ErrExited) {
		t.Errorf("WaitMounted for a child that exits: %v, want an error wrapping ErrExited", err)
	}
}
