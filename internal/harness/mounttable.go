package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// mountinfo is the calling process's mount table.
const mountinfo = "/proc/self/mountinfo"

// Mountpoints lists the mountpoints of the mount table, unescaped, in its
// order and with repeats: a mount stacked on another shows twice.
func Mountpoints() ([]string, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil, fmt.Errorf("read the mount table: %w", err)
	}
	defer f.Close()
	var dirs []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		// ID, parent ID, major:minor, root, mountpoint, …
		if fields := strings.Fields(s.Text()); len(fields) > 4 {
			dirs = append(dirs, UnescapeMount(fields[4]))
		}
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("read the mount table: %w", err)
	}
	return dirs, nil
}

// UnescapeMount undoes the octal escapes of the mount table (\040 for a
// space, \011, \012, \134).
func UnescapeMount(s string) string {
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

// IsMounted reports whether dir, an absolute path without symbolic links,
// is a mountpoint.
func IsMounted(dir string) (bool, error) {
	dirs, err := Mountpoints()
	if err != nil {
		return false, err
	}
	dir = filepath.Clean(dir)
	for _, d := range dirs {
		if d == dir {
			return true, nil
		}
	}
	return false, nil
}

// MountsUnder lists the mountpoints that are dir or inside it, with
// repeats.
func MountsUnder(dir string) ([]string, error) {
	dirs, err := Mountpoints()
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	var under []string
	for _, d := range dirs {
		if d == dir || strings.HasPrefix(d, dir+string(filepath.Separator)) {
			under = append(under, d)
		}
	}
	return under, nil
}

// maxLayers bounds how many stacked mounts Unmount removes from one
// mountpoint.
const maxLayers = 16

// Unmount removes whatever is mounted on dir, alive or dead, each layer of
// a stack in turn, lazily (MNT_DETACH) where a layer is busy. Nothing
// mounted is not an error.
func Unmount(dir string) error {
	for range maxLayers {
		if mounted, err := IsMounted(dir); err != nil || !mounted {
			return err
		}
		if unix.Unmount(dir, 0) == nil {
			continue
		}
		// EINVAL: unmounted meanwhile, the next look tells.
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
	}
	return fmt.Errorf("unmount %s: still mounted after %d unmounts", dir, maxLayers)
}

// How often WaitMounted and WaitUnmounted read the mount table. A mount
// that prints nothing when it is ready is timed by when it was seen, so
// WaitMounted looks often.
const (
	mountedPoll   = 2 * time.Millisecond
	unmountedPoll = 5 * time.Millisecond
)

// WaitMounted waits until dir is in the mount table, for a child p (if
// not nil) that prints nothing when its mount is ready, and returns when it
// saw it. It fails when p exits first (the error wraps ErrExited) or when
// ctx ends.
func WaitMounted(ctx context.Context, p *Process, dir string) (time.Time, error) {
	tick := time.NewTicker(mountedPoll)
	defer tick.Stop()
	for {
		if mounted, err := IsMounted(dir); err != nil || mounted {
			return time.Now(), err
		}
		if p != nil && p.Exited() {
			return time.Time{}, fmt.Errorf("%s %w (%v) before mounting %s\nstderr: %s", p.name, ErrExited, p.Err(), dir, p.stderrTail())
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s not mounted: %w", dir, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// WaitUnmounted waits until dir is no longer in the mount table, or ctx
// ends.
func WaitUnmounted(ctx context.Context, dir string) error {
	tick := time.NewTicker(unmountedPoll)
	defer tick.Stop()
	for {
		mounted, err := IsMounted(dir)
		if err != nil || !mounted {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s still mounted: %w", dir, context.Cause(ctx))
		case <-tick.C:
		}
	}
}
