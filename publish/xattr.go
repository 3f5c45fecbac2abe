package publish

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// readXattrs returns the extended attributes of path worth publishing. The
// system.* namespace (ACLs and the like) is left out: it describes the
// publisher's file system, and a FUSE mount could not honour it anyway.
func readXattrs(path string) (map[string][]byte, error) {
	names, err := listXattrs(path)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	out := make(map[string][]byte, len(names))
	for _, n := range names {
		if strings.HasPrefix(n, "system.") {
			continue
		}
		v, err := getXattr(path, n)
		if errors.Is(err, syscall.ENODATA) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("xattr %s: %w", n, err)
		}
		out[n] = v
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func listXattrs(path string) ([]string, error) {
	buf, err := growRead(func(p []byte) (int, error) { return syscall.Listxattr(path, p) })
	if errors.Is(err, syscall.ENOTSUP) {
		return nil, nil // the source file system has no xattrs
	}
	if err != nil {
		return nil, fmt.Errorf("list xattrs: %w", err)
	}
	var names []string
	for _, n := range bytes.Split(buf, []byte{0}) {
		if len(n) > 0 {
			names = append(names, string(n))
		}
	}
	return names, nil
}

func getXattr(path, name string) ([]byte, error) {
	return growRead(func(p []byte) (int, error) { return syscall.Getxattr(path, name, p) })
}

// growRead calls an xattr syscall with a buffer that grows until the value
// fits; the value may grow between the size query and the read.
func growRead(call func([]byte) (int, error)) ([]byte, error) {
	for size := 256; size <= 1<<20; size *= 4 {
		buf := make([]byte, size)
		n, err := call(buf)
		if errors.Is(err, syscall.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	return nil, syscall.E2BIG
}
