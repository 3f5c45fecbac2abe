package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/internal/harness"
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
	if w == nil {
		w = io.Discard
	}
	p, err := harness.Run(ctx, harness.Command{Path: name, Args: args, Stdin: r, Stdout: w})
	if p == nil {
		return 0, err // it did not start
	}
	d := p.ExitTime().Sub(p.StartTime())
	if ctx.Err() != nil {
		return d, context.Cause(ctx)
	}
	if err != nil {
		return d, fmt.Errorf("%s %s: %w\nstderr: %s", name, strings.Join(trimArgs(args), " "), err, harness.Tail(p.Stderr(), 8<<10))
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
