package origin

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// errNotRegular is returned for a name in the layout that is not a regular
// file (a directory, a FIFO, a device).
var errNotRegular = errors.New("not a regular file")

// openRegular opens root/rel for reading without following a symlink at any
// step of rel, and only if it is a regular file. rel comes from route, so
// its components are plain names; root itself is trusted and may be or
// contain symlinks.
func openRegular(root, rel string) (*os.File, fs.FileInfo, error) {
	full := filepath.Join(root, filepath.FromSlash(rel))
	fd, err := openBeneath(root, rel)
	if err != nil {
		return nil, nil, &fs.PathError{Op: "open", Path: full, Err: err}
	}
	f := os.NewFile(uintptr(fd), full)
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = &fs.PathError{Op: "open", Path: full, Err: errNotRegular}
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// openBeneath walks rel from root one component at a time with O_NOFOLLOW:
// a symlinked directory fails like a symlinked file does. The last
// component is opened O_NONBLOCK so that a FIFO planted under a piece's
// name is refused by the caller instead of blocking the open forever; on a
// regular file the flag has no effect.
func openBeneath(root, rel string) (int, error) {
	dirfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	names := strings.Split(rel, "/")
	for _, name := range names[:len(names)-1] {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(dirfd)
		if err != nil {
			return -1, err
		}
		dirfd = fd
	}
	fd, err := unix.Openat(dirfd, names[len(names)-1], unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	unix.Close(dirfd)
	return fd, err
}

// missing reports whether err from openRegular means there is no servable
// file under the name: absent, a symlink (ELOOP, or ENOTDIR for a symlinked
// directory), or not a regular file.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ELOOP) ||
		errors.Is(err, unix.ENOTDIR) || errors.Is(err, errNotRegular)
}
