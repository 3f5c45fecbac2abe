package publish

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// xattrSource reads the extended attributes of one file, through an open
// descriptor or a path, never following a symlink.
type xattrSource struct {
	list func(buf []byte) (int, error)
	get  func(name string, buf []byte) (int, error)
}

// fdXattrs reads from an open file: the inode the walk checked.
func fdXattrs(fd int) xattrSource {
	return xattrSource{
		list: func(buf []byte) (int, error) { return unix.Flistxattr(fd, buf) },
		get:  func(name string, buf []byte) (int, error) { return unix.Fgetxattr(fd, name, buf) },
	}
}

// pathXattrs reads by path, for devices and fifos, which the walk does not
// open: opening a device can have side effects.
func pathXattrs(path string) xattrSource {
	return xattrSource{
		list: func(buf []byte) (int, error) { return unix.Llistxattr(path, buf) },
		get:  func(name string, buf []byte) (int, error) { return unix.Lgetxattr(path, name, buf) },
	}
}

// read returns the extended attributes worth publishing. The system.*
// namespace (ACLs and the like) is left out: it describes the publisher's
// file system, and a FUSE mount could not honour it anyway.
func (s xattrSource) read() (map[string][]byte, error) {
	names, err := s.names()
	if err != nil || len(names) == 0 {
		return nil, err
	}
	out := make(map[string][]byte, len(names))
	for _, n := range names {
		if strings.HasPrefix(n, "system.") {
			continue
		}
		v, err := growRead(func(p []byte) (int, error) { return s.get(n, p) })
		if errors.Is(err, unix.ENODATA) {
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

func (s xattrSource) names() ([]string, error) {
	buf, err := growRead(s.list)
	if errors.Is(err, unix.ENOTSUP) {
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

// growRead calls an xattr syscall with a buffer that grows until the value
// fits; the value may grow between the size query and the read.
func growRead(call func([]byte) (int, error)) ([]byte, error) {
	for size := 256; size <= 1<<20; size *= 4 {
		buf := make([]byte, size)
		n, err := call(buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	return nil, unix.E2BIG
}
