package publish

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CheckOutside refuses an output directory out that is the source
// directory src or lies inside it: the walk would publish the output into
// itself, and every publish would grow it. A caller runs it before it
// writes anything.
//
// It compares places, not strings. out is made absolute and cleaned, as
// the writers of the output join paths, and its nearest existing ancestor
// (out itself if it exists) has its symlinks resolved; then that directory
// and each one above it is compared with src by device and inode, so a
// symlink or a bind mount leading into src is caught too.
func CheckOutside(src, out string) error {
	srcInfo, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	dir, err := nearestExisting(out)
	if err != nil {
		return fmt.Errorf("publish: output %s: %w", out, err)
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("publish: output %s: %w", out, err)
		}
		if os.SameFile(fi, srcInfo) {
			return fmt.Errorf("publish: output %s is inside the source %s; choose an output outside the source", out, src)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// nearestExisting returns the real path of p, or of its nearest ancestor
// that exists.
func nearestExisting(p string) (string, error) {
	p, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	for {
		real, err := filepath.EvalSymlinks(p)
		if !errors.Is(err, fs.ErrNotExist) {
			return real, err
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", err
		}
		p = parent
	}
}
