package fs

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/meta"
)

// maxIO is the largest read request and readahead window we ask the kernel
// for; go-fuse lowers it to what the kernel allows (fs.fuse.max_pages_limit).
const maxIO = 1 << 20

// Mount mounts a read-only file system serving m on dir and returns once
// the kernel is ready to send it requests. The caller unmounts it with
// Server.Unmount and may wait for the serving loop with Server.Wait.
//
// A stale FUSE mount on dir, left by a piecefs that was killed, is
// detached first, so that mounting again is all a user needs to do.
func Mount(dir string, m *meta.Manifest, r FileReader, opts Options) (*fuse.Server, error) {
	opts = opts.withDefaults()
	if err := clearStaleMount(dir, opts.Log); err != nil {
		return nil, err
	}
	srv, err := gofs.Mount(dir, NewRoot(m, r, opts), fsOptions(opts))
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	return srv, nil
}

// fsOptions returns the go-fuse options for a mount; opts must have its
// defaults applied.
func fsOptions(opts Options) *gofs.Options {
	timeout := opts.CacheTimeout
	return &gofs.Options{
		MountOptions: fuse.MountOptions{
			AllowOther: opts.AllowOther,
			// For the fusermount3 path; a direct mount takes the same
			// from DirectMountFlags (go-fuse turns nosuid and nodev into
			// flags, and the kernel accepts ro as an option too).
			Options: []string{"ro", "nosuid", "nodev", "default_permissions"},
			FsName:  "piecefs",
			Name:    "piecefs",
			// Mount directly when root, through fusermount3 otherwise.
			DirectMount:      true,
			DirectMountFlags: syscall.MS_RDONLY | syscall.MS_NOSUID | syscall.MS_NODEV,
			MaxWrite:         maxIO,
			MaxReadAhead:     maxIO,
			// Replies are bytes in memory, never a file descriptor: go-fuse's
			// splice path copies them into a pipe and then the pipe into
			// /dev/fuse, three more system calls than one writev. Measured on
			// warm random 4 KiB reads: half the kernel CPU per read, and the
			// same speed for sequential reads.
			DisableSplice: true,
			// A link's target is fixed by the manifest like everything
			// else, so the kernel may keep it (FUSE_CACHE_SYMLINKS): a
			// container start resolves /lib, /lib64 and the loader's links
			// again and again, each a round trip without this.
			EnableSymlinkCaching: true,
			Debug:                opts.Debug,
			Logger:               fuseLogger(opts),
		},
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &timeout,
		// Modes come from the manifest; a file of mode 0000 stays 0000.
		NullPermissions: true,
		RootStableAttr:  &gofs.StableAttr{Ino: 1},
		Logger:          diagLogger(opts),
	}
}

// clearStaleMount detaches a dead FUSE mount on dir. Its server is gone,
// so the kernel answers requests with ENOTCONN and a new mount on top would
// be unreachable; a lazy unmount removes it even if some process still
// holds a file in it. The probe is statfs, not stat: the kernel may answer
// stat of the root from attributes it cached from the dead server (for up
// to CacheTimeout), but it always asks the server for statfs.
func clearStaleMount(dir string, log logrus.FieldLogger) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); !errors.Is(err, syscall.ENOTCONN) {
		return nil // any other problem with dir is reported by the mount
	}
	if err := detach(dir); err != nil {
		return fmt.Errorf("unmount stale mount on %s: %w", dir, err)
	}
	log.WithField("mountpoint", dir).Warn("detached a stale FUSE mount left by an earlier piecefs")
	return nil
}

// detach lazily unmounts dir: directly when allowed (root), else through
// fusermount3, which may unmount a FUSE mount its user owns.
func detach(dir string) error {
	err := syscall.Unmount(dir, unix.MNT_DETACH)
	if !errors.Is(err, syscall.EPERM) {
		return err
	}
	out, ferr := exec.Command("fusermount3", "-u", "-z", dir).CombinedOutput()
	if ferr != nil {
		return fmt.Errorf("%w; fusermount3: %w: %s", err, ferr, out)
	}
	return nil
}
