package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// each reads the layer's tar from its start, calling fn for every entry
// with its ordinal in the layer and a reader of its bytes, then reads the
// layer to its end, so that its digest and diff_id are checked even when
// fn needed only its first entries. An error names the layer.
func (l *layer) each(ctx context.Context, fn func(seq int, h *tar.Header, r io.Reader) error) error {
	if err := l.read(ctx, fn); err != nil {
		return fmt.Errorf("%s: %w", l.what, err)
	}
	return nil
}

func (l *layer) read(ctx context.Context, fn func(seq int, h *tar.Header, r io.Reader) error) error {
	raw, err := l.open()
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob missing: %w", err)
	}
	if err != nil {
		return err
	}
	defer raw.Close()
	var stored io.Reader = raw
	if l.digest.Hex != "" {
		stored = newVerifier(raw, l.digest, l.size, "blob")
	}
	dec, err := decompress(stored)
	if err != nil {
		return fmt.Errorf("decompress: %w", err)
	}
	defer dec.Close()
	un := newVerifier(dec, l.diffID, -1, "uncompressed (diff_id)")
	var fnErr error
	err = entries(ctx, tar.NewReader(un), func(seq int, h *tar.Header, r io.Reader) error {
		fnErr = fn(seq, h, r)
		return fnErr
	})
	if err != nil && fnErr == nil && ctx.Err() == nil {
		return corrupt(err, un, stored)
	}
	if err != nil {
		return err
	}
	// Past the tar's end: its padding, then the compressed stream's end.
	if _, err := io.Copy(io.Discard, un); err != nil {
		return corrupt(err, un, stored)
	}
	_, err = io.Copy(io.Discard, stored)
	return err
}

func entries(ctx context.Context, tr *tar.Reader, fn func(seq int, h *tar.Header, r io.Reader) error) error {
	for seq := 0; ; seq++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tar: %w", err)
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if err := fn(seq, h, tr); err != nil {
			return fmt.Errorf("%s: %w", short(h.Name), err)
		}
	}
}

// corrupt explains a layer that could not be read (bad gzip, bad tar): if
// the rest of its bytes show that they are not the ones the image names,
// that is the error to report, not what the damage did to a decoder.
func corrupt(err error, un, stored io.Reader) error {
	if _, cerr := io.Copy(io.Discard, un); errors.Is(cerr, ErrCorrupt) {
		return cerr
	}
	if _, cerr := io.Copy(io.Discard, stored); errors.Is(cerr, ErrCorrupt) {
		return cerr
	}
	return err
}

// short cuts a name for a message: a tar name can be long on purpose.
func short(name string) string {
	if len(name) > 256 {
		return name[:256] + "…"
	}
	return name
}
