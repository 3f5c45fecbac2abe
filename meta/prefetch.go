package meta

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// PrefetchFormat is the value of PrefetchList.Format.
const PrefetchFormat = "piecefs-prefetch"

// PrefetchVersion is the only version of the prefetch list this package
// reads and writes.
const PrefetchVersion = 1

// Bounds on a prefetch list. The encoded list is fetched and cached like a
// piece (see ObjectRef), so it is bounded like one.
const (
	MaxPrefetchSize   = MaxPieceSize
	MaxPrefetchRanges = 1 << 20
)

// PrefetchList is the ranges of files a start of the tree read, in the order
// first read: recorded by `piecefs mount --record`, published with a
// manifest, fetched first by a mount of it. Ranges name files by path, not
// pieces, so that a list recorded on one publication applies to the next.
type PrefetchList struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	Ranges  []PrefetchRange `json:"ranges"`
}

// PrefetchRange is bytes [Offset, Offset+Length) of the file at Path.
type PrefetchRange struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
	Length int64  `json:"length"`
}

// ObjectRef names an immutable object of the origin layout by its digest and
// size, as a piece is named: Manifest.Prefetch.
type ObjectRef struct {
	Digest Digest `json:"digest"`
	Size   int64  `json:"size"`
}

// Piece returns the object as a piece: the prefetch list lives at
// PiecePath(r.Digest), so it is fetched, verified and cached as one.
func (r ObjectRef) Piece() Piece { return Piece{Digest: r.Digest, Size: r.Size} }

func (r ObjectRef) validate() error {
	if r.Size <= 0 || r.Size > MaxPrefetchSize {
		return fmt.Errorf("size %d outside [1, %d]", r.Size, MaxPrefetchSize)
	}
	return nil
}

// NewPrefetchList returns an empty list of the current format and version.
func NewPrefetchList() *PrefetchList {
	return &PrefetchList{Format: PrefetchFormat, Version: PrefetchVersion}
}

// DecodePrefetch parses and checks an encoded prefetch list: at most
// MaxPrefetchSize bytes and MaxPrefetchRanges ranges (counted as they are
// decoded, so a hostile list cannot claim memory beyond that), every path
// valid as a manifest's, every range inside [0, MaxFileSize] and not empty.
// It does not look at any tree: see Manifest.ResolvePrefetch.
func DecodePrefetch(b []byte) (*PrefetchList, error) {
	if len(b) > MaxPrefetchSize {
		return nil, fmt.Errorf("prefetch list: %d bytes is more than the limit of %d", len(b), MaxPrefetchSize)
	}
	var l PrefetchList
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := l.decodeObject(dec); err != nil {
		return nil, fmt.Errorf("prefetch list: decode: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("prefetch list: trailing data after the JSON document")
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	return &l, nil
}

func (l *PrefetchList) decodeObject(dec *json.Decoder) error {
	if err := expect(dec, json.Delim('{'), "the prefetch list is not a JSON object"); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		switch {
		case strings.EqualFold(key, "format"):
			err = dec.Decode(&l.Format)
		case strings.EqualFold(key, "version"):
			err = dec.Decode(&l.Version)
		case strings.EqualFold(key, "ranges"):
			err = l.decodeRanges(dec)
		default:
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
		if err != nil {
			return err
		}
	}
	return expect(dec, json.Delim('}'), "the prefetch list object is not closed")
}

// decodeRanges decodes the ranges array one element at a time, refusing
// more than MaxPrefetchRanges before it holds them.
func (l *PrefetchList) decodeRanges(dec *json.Decoder) error {
	tok, err := dec.Token()
	switch {
	case err != nil:
		return err
	case tok == nil:
		l.Ranges = nil
		return nil
	case tok != json.Delim('['):
		return errors.New("ranges: want an array")
	}
	l.Ranges = l.Ranges[:0]
	for dec.More() {
		if len(l.Ranges) == MaxPrefetchRanges {
			return fmt.Errorf("ranges: more than %d", MaxPrefetchRanges)
		}
		var r PrefetchRange
		if err := dec.Decode(&r); err != nil {
			return fmt.Errorf("ranges[%d]: %w", len(l.Ranges), err)
		}
		l.Ranges = append(l.Ranges, r)
	}
	return expect(dec, json.Delim(']'), "ranges: the array is not closed")
}

// Validate checks the format, the version and every range (see
// DecodePrefetch).
func (l *PrefetchList) Validate() error {
	if l.Format != PrefetchFormat {
		return fmt.Errorf("prefetch list: format %q, want %q", l.Format, PrefetchFormat)
	}
	if l.Version != PrefetchVersion {
		return fmt.Errorf("prefetch list: version %d is not supported (this piecefs reads version %d)", l.Version, PrefetchVersion)
	}
	if len(l.Ranges) > MaxPrefetchRanges {
		return fmt.Errorf("prefetch list: %d ranges, more than %d", len(l.Ranges), MaxPrefetchRanges)
	}
	for i, r := range l.Ranges {
		if err := r.validate(); err != nil {
			return fmt.Errorf("prefetch list: range %d %.80q: %w", i, r.Path, err)
		}
	}
	return nil
}

func (r PrefetchRange) validate() error {
	if err := validPath(r.Path); err != nil {
		return err
	}
	if r.Offset < 0 || r.Length <= 0 || r.Offset > MaxFileSize || r.Length > MaxFileSize-r.Offset {
		return fmt.Errorf("[%d, +%d) is not a range of at least one byte inside [0, %d]", r.Offset, r.Length, int64(MaxFileSize))
	}
	return nil
}

// EncodedSize is about what r adds to an encoded list: a bound for a
// recorder to stop at before its list would exceed MaxPrefetchSize.
func (r PrefetchRange) EncodedSize() int {
	// {"path":"","offset":,"length":}, plus a comma; a path may need
	// escapes, which at worst sextuple a byte (\u00XX).
	return 32 + 6*len(r.Path) + len(strconv.FormatInt(r.Offset, 10)) + len(strconv.FormatInt(r.Length, 10))
}

// Encode returns the list's encoding, one range a line so that a recorded
// list can be read and edited by hand; it fails beyond MaxPrefetchSize.
func (l *PrefetchList) Encode() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\"format\":%q,\"version\":%d,\"ranges\":[", l.Format, l.Version)
	for i, r := range l.Ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		line, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("prefetch list: encode: %w", err)
		}
		b.WriteString("\n")
		b.Write(line)
	}
	b.WriteString("\n]}\n")
	if b.Len() > MaxPrefetchSize {
		return nil, fmt.Errorf("prefetch list: %d bytes encoded, more than the limit of %d", b.Len(), MaxPrefetchSize)
	}
	return b.Bytes(), nil
}

// ResolvePrefetch returns the ranges of l that name regular files of m,
// clamped to the files' sizes, in l's order, each as it applies to m: a
// hardlink's range names its target. drop is told about each range left
// out and why (nil ignores). m must have passed Validate.
func (m *Manifest) ResolvePrefetch(l *PrefetchList, drop func(r PrefetchRange, why string)) []PrefetchRange {
	out := make([]PrefetchRange, 0, len(l.Ranges))
	for _, r := range l.Ranges {
		i, ok := m.Lookup(r.Path)
		var why string
		switch {
		case !ok:
			why = "no such path in the tree"
		case m.Entries[m.Inode(i)].Kind != KindFile:
			why = "not a regular file"
		case r.Offset >= m.Entries[m.Inode(i)].Size:
			why = "starts at or past the end of the file"
		}
		if why != "" {
			if drop != nil {
				drop(r, why)
			}
			continue
		}
		e := &m.Entries[m.Inode(i)]
		out = append(out, PrefetchRange{Path: e.Path, Offset: r.Offset, Length: min(r.Length, e.Size-r.Offset)})
	}
	return out
}

// AppendPrefetchSlices appends to dst the piece slices that hold the ranges
// of l that m resolves (see ResolvePrefetch), in order, and returns it.
func (m *Manifest) AppendPrefetchSlices(dst []Slice, l *PrefetchList) []Slice {
	for _, r := range m.ResolvePrefetch(l, nil) {
		i, _ := m.Lookup(r.Path)
		dst = m.AppendSlices(dst, &m.Entries[i], r.Offset, r.Length)
	}
	return dst
}
