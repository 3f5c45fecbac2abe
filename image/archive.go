package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// maxMembers bounds the members of an archive (an OCI archive or a docker
// save tarball), whose names and offsets are held in memory: a real one
// has a few per layer.
const maxMembers = 1 << 20

// archive reads the members of a tar file in place: one pass over its
// headers records where each member's bytes lie, and a member is then read
// with ReadAt through a section of the file. Nothing is extracted.
type archive struct {
	f       *os.File
	members map[string]member // by cleaned name
}

type member struct {
	off, size int64
	isLink    bool
	link      string // for a symlink or hardlink member: the cleaned name it points at
}

func openArchive(name string) (*archive, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	a := &archive{f: f, members: make(map[string]member)}
	if err := a.index(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return a, nil
}

// index records every member. archive/tar reads exactly the header blocks
// and seeks over contents, so after Next the file's offset is where the
// member's bytes start.
func (a *archive) index() error {
	tr := tar.NewReader(a.f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("not a tar archive: %w", err)
		}
		if len(a.members) == maxMembers {
			return fmt.Errorf("more than %d members", maxMembers)
		}
		name := cleanMember(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			off, err := a.f.Seek(0, io.SeekCurrent)
			if err != nil {
				return err
			}
			a.members[name] = member{off: off, size: hdr.Size}
		case tar.TypeSymlink:
			a.members[name] = member{isLink: true, link: cleanMember(path.Join(path.Dir(name), hdr.Linkname))}
		case tar.TypeLink:
			a.members[name] = member{isLink: true, link: cleanMember(hdr.Linkname)}
		}
	}
}

func cleanMember(name string) string { return strings.TrimPrefix(path.Clean("/"+name), "/") }

// has reports whether the archive holds a member of that name.
func (a *archive) has(name string) bool {
	_, ok := a.members[name]
	return ok
}

// open returns a reader of the member's bytes, following links (as docker
// save does for layers shared between images).
func (a *archive) open(name string) (io.ReadCloser, error) {
	for range 16 {
		m, ok := a.members[name]
		switch {
		case !ok:
			return nil, fmt.Errorf("member %s: %w", name, fs.ErrNotExist)
		case !m.isLink:
			return io.NopCloser(io.NewSectionReader(a.f, m.off, m.size)), nil
		}
		name = m.link
	}
	return nil, fmt.Errorf("member %s: too many links", name)
}

// Blob opens a blob of the OCI layout the archive holds.
func (a *archive) Blob(h v1.Hash) (io.ReadCloser, error) {
	return a.open(path.Join("blobs", h.Algorithm, h.Hex))
}

func (a *archive) Close() error { return a.f.Close() }
