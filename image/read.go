package image

import (
	"archive/tar"
	"bufio"
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
	in := inflate(dec, stored)
	defer in.stop()
	un := newVerifier(bufio.NewReaderSize(in, pipeBuffer), l.diffID, -1, "uncompressed (diff_id)")
	var fnErr error
	err = entries(ctx, tar.NewReader(un), func(seq int, h *tar.Header, r io.Reader) error {
		fnErr = fn(seq, h, r)
		return fnErr
	})
	if err == nil {
		// Past the tar's end: its padding, then (in inflate) the
		// compressed stream's end, so both digests are checked.
		_, err = io.Copy(io.Discard, un)
	} else if fnErr == nil && ctx.Err() == nil {
		err = corrupt(err, un)
	}
	return err
}

// corrupt explains a layer whose tar could not be read: if the rest of
// its bytes show that they are not the ones the image names, that is the
// error to report, not what the damage did to the tar reader.
func corrupt(err error, un io.Reader) error {
	if _, cerr := io.Copy(io.Discard, un); errors.Is(cerr, ErrCorrupt) {
		return cerr
	}
	return err
}

// pipeBuffer is the unit handed from the decompressing goroutine to the
// tar reader.
const pipeBuffer = 256 << 10

// errStopped ends a decompression whose reader has stopped reading.
var errStopped = errors.New("layer reader stopped")

// inflater decompresses a layer in a goroutine of its own, so that
// decompression (most of an import's time for a gzip layer) runs beside
// the hashing and packing of what it already produced, on another core.
type inflater struct {
	pr   *io.PipeReader
	done chan struct{}
}

// inflate starts decompressing dec; once dec ends it reads stored (dec's
// input) to its end, so the stored bytes' digest is checked, and a
// decoding error caused by damaged bytes is reported as ErrCorrupt.
func inflate(dec, stored io.Reader) *inflater {
	pr, pw := io.Pipe()
	in := &inflater{pr: pr, done: make(chan struct{})}
	go func() {
		defer close(in.done)
		_, err := io.CopyBuffer(pw, dec, make([]byte, pipeBuffer))
		switch {
		case errors.Is(err, errStopped):
		case err != nil:
			if _, cerr := io.Copy(io.Discard, stored); errors.Is(cerr, ErrCorrupt) {
				err = cerr
			}
		default:
			_, err = io.Copy(io.Discard, stored)
		}
		pw.CloseWithError(err) // nil: the reader sees EOF
	}()
	return in
}

func (in *inflater) Read(p []byte) (int, error) { return in.pr.Read(p) }

// stop ends the goroutine, if it still runs, and waits for it.
func (in *inflater) stop() {
	in.pr.CloseWithError(errStopped)
	<-in.done
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

// short cuts a name for a message: a tar name can be long on purpose.
func short(name string) string {
	if len(name) > 256 {
		return name[:256] + "…"
	}
	return name
}
