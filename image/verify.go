package image

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// ErrCorrupt is wrapped by every error of a blob whose bytes do not match
// the digest (or size) the image names it by.
var ErrCorrupt = errors.New("corrupt blob")

// maxJSON bounds an index, manifest or config read into memory.
const maxJSON = 16 << 20

// verifier hashes what is read through it and, at EOF, fails unless the
// bytes had the digest want and, if size ≥ 0, that size.
type verifier struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	want v1.Hash
	size int64
	what string
}

func newVerifier(r io.Reader, want v1.Hash, size int64, what string) *verifier {
	return &verifier{r: r, h: sha256.New(), want: want, size: size, what: what}
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		return n, fmt.Errorf("%s: more than the %d bytes its descriptor says: %w", v.what, v.size, ErrCorrupt)
	}
	if errors.Is(err, io.EOF) {
		if cerr := v.check(); cerr != nil {
			return n, cerr
		}
	}
	return n, err
}

func (v *verifier) check() error {
	if v.size >= 0 && v.n != v.size {
		return fmt.Errorf("%s: %d bytes, its descriptor says %d: %w", v.what, v.n, v.size, ErrCorrupt)
	}
	if got := fmt.Sprintf("%x", v.h.Sum(nil)); v.want.Algorithm != "sha256" || got != v.want.Hex {
		return fmt.Errorf("%s: digest is sha256:%s, want %s: %w", v.what, got, v.want, ErrCorrupt)
	}
	return nil
}

// readBlob reads a small JSON blob whole and verifies it.
func readBlob(open func() (io.ReadCloser, error), d v1.Descriptor, what string) ([]byte, error) {
	if d.Size < 0 || d.Size > maxJSON {
		return nil, fmt.Errorf("%s %s: size %d outside [0, %d]", what, d.Digest, d.Size, maxJSON)
	}
	rc, err := open()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, d.Digest, err)
	}
	defer rc.Close()
	return io.ReadAll(newVerifier(io.LimitReader(rc, d.Size+1), d.Digest, d.Size, what+" "+d.Digest.String()))
}

// decompress returns the uncompressed bytes of a layer, whatever its
// compression (gzip, zstd or none), told by its first bytes as
// go-containerregistry and containerd do: media types lie (an OCI
// "tar+gzip" that is plain tar is common).
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return gzip.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		d, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<30))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}
