package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// dropCaches writes dirty data back and drops the page cache, dentries and
// inodes: `sync; echo 3 > /proc/sys/vm/drop_caches`.
func dropCaches() error {
	unix.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
		return fmt.Errorf("drop the page cache: %w", err)
	}
	return nil
}

// isMounted reports whether dir is a mountpoint. It reads the mount table,
// never the mount, so a dead FUSE mount cannot hang it.
func isMounted(dir string) (bool, error) {
	mounts, err := mountpoints()
	if err != nil {
		return false, err
	}
	for _, m := range mounts {
		if m == dir {
			return true, nil
		}
	}
	return false, nil
}

// mountpoints lists the mountpoints of /proc/self/mounts.
func mountpoints() ([]string, error) {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) > 1 {
			out = append(out, unescapeMount(fields[1]))
		}
	}
	return out, s.Err()
}

// unescapeMount undoes the octal escapes (\040 for a space) of /proc/mounts.
func unescapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmount removes whatever is mounted on dir, lazily if it is busy or dead.
func unmount(dir string) error {
	for _, flags := range []int{0, unix.MNT_DETACH} {
		if m, err := isMounted(dir); err != nil || !m {
			return err
		}
		_ = unix.Unmount(dir, flags) // the mount table says whether it worked
	}
	if m, _ := isMounted(dir); m {
		return fmt.Errorf("%s is still mounted after a lazy unmount", dir)
	}
	return nil
}

// lookTool returns the path of a tool, or "" when it is not installed.
func lookTool(name string, alsoAt ...string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range alsoAt {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// timeCmd runs a tool to completion with stdout to w (if not nil) and
// stdin from r (if not nil), and returns how long it ran. ^C kills it.
func timeCmd(ctx context.Context, w io.Writer, r io.Reader, name string, args ...string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdout, cmd.Stdin = w, r
	var stderr tailBuffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if ctx.Err() != nil {
		return d, context.Cause(ctx)
	}
	if err != nil {
		return d, fmt.Errorf("%s %s: %w\nstderr: %s", name, strings.Join(trimArgs(args), " "), err, stderr.String())
	}
	return d, nil
}

// trimArgs keeps error messages short when a tool got many arguments.
func trimArgs(args []string) []string {
	if len(args) > 12 {
		return append(args[:12:12], fmt.Sprintf("… (%d more)", len(args)-12))
	}
	return args
}

// output runs a quick tool and returns its trimmed stdout.
func output(ctx context.Context, name string, args ...string) (string, error) {
	var b bytes.Buffer
	_, err := timeCmd(ctx, &b, nil, name, args...)
	return strings.TrimSpace(b.String()), err
}

// counter counts the bytes and lines written to it.
type counter struct {
	bytes, lines int64
}

func (c *counter) Write(b []byte) (int, error) {
	c.bytes += int64(len(b))
	c.lines += int64(bytes.Count(b, []byte{'\n'}))
	return len(b), nil
}

// requireRoot fails unless the benchmark can drop caches and mount.
func requireRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root: it drops the page cache and mounts file systems")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("needs /dev/fuse: %w", err)
	}
	return nil
}

// fsType names the file system holding dir when it is a memory one
// ("tmpfs", "ramfs"), else "".
func fsType(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return ""
	}
	switch st.Type {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.RAMFS_MAGIC:
		return "ramfs"
	}
	return ""
}

// mountsUnder lists the mountpoints inside dir.
func mountsUnder(dir string) []string {
	all, err := mountpoints()
	if err != nil {
		return []string{"(cannot read the mount table: " + err.Error() + ")"}
	}
	var out []string
	for _, m := range all {
		if strings.HasPrefix(m, dir+"/") {
			out = append(out, m)
		}
	}
	return out
}

// loadAvg returns the 1-minute load average, or "?" when unknown.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
