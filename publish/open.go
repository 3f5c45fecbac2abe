package publish

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// testHookBeforeOpen, when set, runs between the stat of an entry and its
// open, so that a test can replace the entry in that window.
var testHookBeforeOpen func(rel string)

// openChecked opens c in dirfd for reading and returns its fstat, refusing with
// errChanged anything but the inode the walk's lstat saw. O_NOFOLLOW
// refuses a symlink swapped in; O_NONBLOCK keeps a fifo swapped in from
// blocking the open (it is cleared before the file is read); O_NOCTTY keeps
// a terminal from becoming ours; the dev+ino check catches the rest, such
// as another file renamed over the name.
// The caller names the path in errors.
func openChecked(dirfd int, c child, flags int) (*os.File, *unix.Stat_t, error) {
	if testHookBeforeOpen != nil {
		testHookBeforeOpen(c.rel)
	}
	fd, err := unix.Openat(dirfd, c.name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC|flags, 0)
	if err != nil {
		return nil, nil, openError(err)
	}
	st, err := checkOpened(fd, &c.st)
	if err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	return os.NewFile(uintptr(fd), c.name), st, nil
}

// openError says "changed" for the errors that mean the name no longer
// holds what the walk saw: gone, a symlink now, or not a directory now.
func openError(err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return fmt.Errorf("%w (open: %w)", errChanged, err)
	}
	return fmt.Errorf("open: %w", err)
}

// checkOpened fstats fd, checks it is the inode want describes, and makes
// it blocking again.
func checkOpened(fd int, want *unix.Stat_t) (*unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("fstat: %w", err)
	}
	if st.Dev != want.Dev || st.Ino != want.Ino || st.Mode&unix.S_IFMT != want.Mode&unix.S_IFMT {
		return nil, fmt.Errorf("%w (replaced between its lstat and its open)", errChanged)
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		return nil, fmt.Errorf("clear O_NONBLOCK: %w", err)
	}
	return &st, nil
}

// unchanged checks, after a file was read, that the stat taken when it was
// opened still holds: a write in between would mean the bytes read never
// existed together.
func unchanged(f *os.File, before *unix.Stat_t) error {
	var after unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &after); err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	if after.Size != before.Size || after.Mtim != before.Mtim {
		return fmt.Errorf("written to while read: %w", errChanged)
	}
	return nil
}
