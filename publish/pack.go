package publish

import (
	"errors"
	"fmt"
	"io"

	"github.com/piecefs/piecefs/meta"
)

// packer turns entries and their contents into pieces and a manifest. It
// knows nothing of where entries come from: a source hands it entries in
// manifest order (parents first) and, for a file, a reader of exactly
// e.Size bytes.
type packer struct {
	sink      Sink
	pieceSize int64
	m         *meta.Manifest

	pieces map[meta.Digest]int           // digest → index in m.Pieces
	small  map[meta.Digest][]meta.Extent // content digest of a packed file → its extents

	buf      []byte // one piece of a large file
	pack     []byte // the pack piece being filled
	packSlot int    // index in m.Pieces reserved for pack while it is not empty
}

func newPacker(sink Sink, pieceSize int64) *packer {
	return &packer{
		sink:      sink,
		pieceSize: pieceSize,
		m:         &meta.Manifest{Format: meta.Format, Version: meta.Version, PieceSize: pieceSize, BlockSize: blockSize(pieceSize)},
		pieces:    make(map[meta.Digest]int),
		small:     make(map[meta.Digest][]meta.Extent),
		buf:       make([]byte, pieceSize),
		pack:      make([]byte, 0, pieceSize),
	}
}

// add appends e to the manifest. For a file, content must yield exactly
// e.Size bytes; fewer or more is errChanged.
func (p *packer) add(e meta.Entry, content io.Reader) error {
	if e.Kind == meta.KindFile {
		var err error
		if e.Size < p.pieceSize {
			err = p.addSmall(&e, content)
		} else {
			err = p.addLarge(&e, content)
		}
		if err != nil {
			return err
		}
	}
	p.m.Entries = append(p.m.Entries, e)
	return nil
}

// finish seals the last pack and returns the manifest, validated.
func (p *packer) finish() (*meta.Manifest, error) {
	if err := p.flushPack(); err != nil {
		return nil, err
	}
	if err := p.m.Validate(); err != nil {
		return nil, fmt.Errorf("publish: built an invalid manifest: %w", err)
	}
	return p.m, nil
}

func (p *packer) addLarge(e *meta.Entry, r io.Reader) error {
	for left := e.Size; left > 0; {
		n := min(left, p.pieceSize)
		chunk := p.buf[:n]
		if err := readFull(r, chunk); err != nil {
			return err
		}
		idx, err := p.putPiece(chunk)
		if err != nil {
			return err
		}
		e.Extents = append(e.Extents, meta.Extent{Piece: idx, Length: n})
		left -= n
	}
	return expectEOF(r)
}

func (p *packer) addSmall(e *meta.Entry, r io.Reader) error {
	if e.Size == 0 {
		return expectEOF(r)
	}
	data := make([]byte, e.Size)
	if err := readFull(r, data); err != nil {
		return err
	}
	if err := expectEOF(r); err != nil {
		return err
	}
	sum := meta.Sum(data)
	if x, ok := p.small[sum]; ok {
		e.Extents = x // identical content is stored once
		return nil
	}
	if int64(len(p.pack)+len(data)) > p.pieceSize {
		if err := p.flushPack(); err != nil {
			return err
		}
	}
	if len(p.pack) == 0 {
		p.packSlot = len(p.m.Pieces)
		p.m.Pieces = append(p.m.Pieces, meta.Piece{})
	}
	e.Extents = []meta.Extent{{Piece: p.packSlot, Offset: int64(len(p.pack)), Length: e.Size}}
	p.small[sum] = e.Extents
	p.pack = append(p.pack, data...)
	return nil
}

// flushPack seals the pack piece. Its slot in m.Pieces was reserved when the
// pack was started, so the extents already pointing at it stay right even if
// an identical piece exists elsewhere in the manifest.
func (p *packer) flushPack() error {
	if len(p.pack) == 0 {
		return nil
	}
	piece, err := p.store(p.pack)
	if err != nil {
		return err
	}
	d := piece.Digest
	p.m.Pieces[p.packSlot] = piece
	if _, ok := p.pieces[d]; !ok {
		p.pieces[d] = p.packSlot
	}
	p.pack = p.pack[:0]
	return nil
}

func (p *packer) putPiece(data []byte) (int, error) {
	d := meta.Sum(data)
	if idx, ok := p.pieces[d]; ok {
		return idx, nil
	}
	piece, err := p.store(data)
	if err != nil {
		return 0, err
	}
	idx := len(p.m.Pieces)
	p.m.Pieces = append(p.m.Pieces, piece)
	p.pieces[d] = idx
	return idx, nil
}

// store hands a piece to the sink, its block table first when it has more
// than one block (so that an output never names a table it lacks), and
// returns the piece as the manifest lists it.
func (p *packer) store(data []byte) (meta.Piece, error) {
	piece := meta.Piece{Digest: meta.Sum(data), Size: int64(len(data))}
	if piece.Size > p.m.BlockSize {
		table := meta.BlockTable(data, p.m.BlockSize)
		piece.Blocks = meta.Sum(table)
		if err := p.sink.PutBlocks(piece.Blocks, table); err != nil {
			return piece, fmt.Errorf("store block table of piece %s: %w", piece.Digest, err)
		}
	}
	if err := p.sink.PutPiece(piece.Digest, data); err != nil {
		return piece, fmt.Errorf("store piece %s: %w", piece.Digest, err)
	}
	return piece, nil
}

// blockSize is the block size of a publication with pieces of pieceSize
// bytes: meta.DefaultBlockSize, or the piece size if that is smaller.
func blockSize(pieceSize int64) int64 { return min(meta.DefaultBlockSize, pieceSize) }

// readFull reads exactly len(b) bytes, so content shorter than its entry's
// size is caught.
func readFull(r io.Reader, b []byte) error {
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("shorter than %d bytes: %w", len(b), errChanged)
		}
		return err
	}
	return nil
}

// expectEOF catches content longer than its entry's size.
func expectEOF(r io.Reader) error {
	var one [1]byte
	n, err := r.Read(one[:])
	if n > 0 {
		return fmt.Errorf("longer than its size: %w", errChanged)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
