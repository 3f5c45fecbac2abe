package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/meta"
)

// `piecefs mount --bundle DIR` writes the bundle `piecefs bundle MNT DIR`
// would, from the mount process itself, after the FUSE mount is up and
// before the ready line: a container start is then the mount and runc,
// without a second piecefs process, its exec and its round trip to the
// control socket for the image config, which the mount has in memory.
//
// # Unmounting
//
// An overlay root (--bundle-rootfs-writable=overlay) keeps the FUSE mount
// busy, so the signal that unmounts the mount first unmounts the overlay
// at DIR/rootfs (lazily when something still uses it); an external umount
// of the mount still needs the overlay's umount first, as with bundle.

// mountBundle is mount's --bundle flags and the command after "--".
type mountBundle struct {
	dir  string // --bundle: the bundle directory; "" writes none
	opts bundleOptions
}

// register declares the flags. They repeat bundle's, prefixed, so that
// one name means one thing in both commands.
func (b *mountBundle) register(fs *flag.FlagSet) {
	fs.StringVar(&b.dir, "bundle", "", "before the ready line, write into `DIR` the OCI runtime bundle that piecefs bundle MOUNTPOINT DIR would "+
		"(config.json with the mount as its read-only root and the image's process settings), to run with runc run -b DIR; "+
		"ARGS after -- (ORIGIN_URL MOUNTPOINT -- ARGS...) replace the image's entrypoint and command; a failure to write it fails the mount")
	fs.StringVar(&b.opts.writable, "bundle-rootfs-writable", writableNone, "with --bundle: bundle's --rootfs-writable; "+
		"overlay mounts an overlayfs of the mount at DIR/rootfs (needs root), which the mount unmounts first when a signal unmounts it")
	fs.StringVar(&b.opts.name, "bundle-name", "piecefs", "with --bundle: the container's hostname, and the NAME in the runc command logged")
}

// parseArgs takes the command after "--" off mount's arguments and checks
// the flags; it returns the arguments left (ORIGIN_URL MOUNTPOINT).
func (b *mountBundle) parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var without []string // --bundle-* flags set without --bundle
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "bundle-rootfs-writable" || f.Name == "bundle-name" {
			without = append(without, "--"+f.Name)
		}
	})
	if len(args) > 2 && args[2] == "--" { // anything else is wantArgs' to refuse
		if b.opts.args = args[3:]; len(b.opts.args) == 0 {
			return nil, usageError{"no command after --"}
		}
		args, without = args[:2], append(without, "a command after --")
	}
	if b.dir == "" && len(without) > 0 {
		return nil, usageError{fmt.Sprintf("%s without --bundle", without[0])}
	}
	if b.opts.writable != writableNone && b.opts.writable != writableOverlay {
		return nil, usageError{fmt.Sprintf("--bundle-rootfs-writable %q: want none or overlay", b.opts.writable)}
	}
	return args, nil
}

// write writes the bundle, when asked to, of image im for the FUSE mount at
// mountpoint, which must be up, and says so in the log. It returns the
// signals serveUntilUnmounted should act on: sigs itself, or with an
// overlay a channel that passes them on once the overlay is unmounted,
// until done is closed.
func (b *mountBundle) write(im *meta.Image, mountpoint string, sigs chan os.Signal, done <-chan struct{}, log logrus.FieldLogger) (chan os.Signal, error) {
	if b.dir == "" {
		return sigs, nil
	}
	// The root in the spec is absolute and as the mount table has it,
	// like bundle's, which finds the mount there.
	mnt, err := filepath.Abs(mountpoint)
	if err == nil {
		mnt, err = filepath.EvalSymlinks(mnt)
	}
	if err != nil {
		return sigs, fmt.Errorf("--bundle: %w", err)
	}
	log = log.WithField("component", "bundle")
	line, err := makeBundle(mnt, os.Getuid(), im, b.dir, b.opts, func(msg string) { log.Warn(msg) })
	if err != nil {
		return sigs, fmt.Errorf("--bundle %s: %w", b.dir, err)
	}
	log.Info(line)
	if b.opts.writable != writableOverlay {
		return sigs, nil
	}
	rootfs, err := filepath.Abs(filepath.Join(b.dir, "rootfs"))
	if err != nil {
		return sigs, err
	}
	return overlayFirst(sigs, rootfs, done, log), nil
}

// overlayFirst passes sigs on to the channel it returns, unmounting the
// overlay at rootfs before the first: serveUntilUnmounted unmounts the
// FUSE mount on that signal, which the overlay above it would keep busy.
// It stops when done is closed (the mount ended, by a signal or not).
func overlayFirst(sigs <-chan os.Signal, rootfs string, done <-chan struct{}, log logrus.FieldLogger) chan os.Signal {
	out := make(chan os.Signal, cap(sigs))
	go func() {
		for first := true; ; first = false {
			select { // done first, even with a signal waiting
			case <-done:
				return
			default:
			}
			var sig os.Signal
			select {
			case sig = <-sigs:
			case <-done:
				return
			}
			if first {
				sig = unmountOverlay(sig, rootfs, log)
			}
			select {
			case out <- sig:
			case <-done:
				return
			}
		}
	}()
	return out
}

// unmountOverlay unmounts the overlay at rootfs, or detaches it lazily
// when something still uses it (the FUSE mount then stays until that
// ends, as with files open on it), and returns sig.
func unmountOverlay(sig os.Signal, rootfs string, log logrus.FieldLogger) os.Signal {
	log = log.WithField("overlay", rootfs)
	err := unix.Unmount(rootfs, 0)
	if errors.Is(err, syscall.EBUSY) {
		log.WithError(err).Warn("the overlay is busy; detaching it lazily")
		err = unix.Unmount(rootfs, unix.MNT_DETACH)
	}
	switch {
	case err == nil:
		log.Info("unmounted the overlay")
	case errors.Is(err, syscall.EINVAL): // unmounted already, by hand
	default:
		log.WithError(err).Error("could not unmount the overlay")
	}
	return sig
}
