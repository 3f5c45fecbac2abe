package piece

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// trueByte is byte i of the content whose digest is d, at whatever size:
// a tier that holds d at a wrong size holds a prefix or an extension of the
// true bytes, the lie hardest to notice.
func trueByte(d meta.Digest, i int64) byte {
	return d[i%int64(len(d))] ^ byte(i*131+i>>8)
}

func trueContent(d meta.Digest, size int64) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = trueByte(d, int64(i))
	}
	return b
}

// FuzzReadAt reads any file of any manifest that Validate accepts, at any
// offset and length, through tiers that may each hold a piece at the
// manifest's size or at another: every read returns the file's bytes as the
// manifest describes them, or an error; never a panic, other bytes, or
// fewer bytes without an error (io.EOF only at the end of the file). A
// read of a piece that no tier holds at the manifest's size must fail.
//
// The manifest's digests are not real hashes of the contents here: the
// tiers behind the reader verify hashes, and this target checks what the
// reader does with the bytes they hand it.
func FuzzReadAt(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed, int64(0), uint16(100), uint8(0), int16(0))
		f.Add(seed, int64(3990), uint16(4000), uint8(0x15), int16(-1))
		f.Add(seed, int64(1), uint16(65535), uint8(0x2a), int16(4096))
		f.Add(seed, int64(8000), uint16(1), uint8(0x3f), int16(1))
	}
	f.Fuzz(func(t *testing.T, manifest []byte, off int64, n uint16, lies uint8, skew int16) {
		m, err := meta.Decode(manifest)
		if err != nil || pieceBytes(m) > maxFuzzBytes {
			return
		}
		r, right := liarTiers(m, lies, int64(skew))
		defer r.Close()
		for i := range m.Entries {
			e := &m.Entries[i]
			if e.Kind != meta.KindFile {
				continue
			}
			checkRead(t, m, r, e, off, int(n), right)
		}
	})
}

// liarTiers returns a reader over tiers that hold each piece as lies says,
// and which pieces some tier in use holds at the manifest's size. Bits 0-1
// pick whether memory and disk hold a piece at all (the network always
// answers), bits 2-4 which of memory, disk and network hold it at its size
// plus skew rather than its own, bit 6 turns readahead on and bit 7 the
// memory tier off. The lie shifts from piece to piece.
func liarTiers(m *meta.Manifest, lies uint8, skew int64) (*Reader, map[meta.Digest]bool) {
	memOn := lies&0x80 == 0
	memPieces := map[meta.Digest][]byte{}
	disk := &sizedDisk{m: map[meta.Digest][]byte{}}
	net := fixedNet{m: map[meta.Digest][]byte{}}
	right := map[meta.Digest]bool{}
	seen := map[meta.Digest]bool{}
	for k, p := range m.Pieces {
		if seen[p.Digest] {
			continue // a digest listed twice (at one size) is one piece to every tier
		}
		seen[p.Digest] = true
		bits := lies >> (k % 3)
		wrong := p.Size + skew
		if skew == 0 || wrong <= 0 || wrong > 2*meta.MaxPieceSize {
			wrong = p.Size + 1
		}
		for tier, into := range []map[meta.Digest][]byte{memPieces, disk.m, net.m} {
			if tier < 2 && bits&(1<<tier) == 0 {
				continue
			}
			if bits&(4<<tier) != 0 {
				into[p.Digest] = trueContent(p.Digest, wrong)
				continue
			}
			into[p.Digest] = trueContent(p.Digest, p.Size)
			if tier != 0 || memOn {
				right[p.Digest] = true
			}
		}
	}
	o := Options{Disk: disk, Network: net}
	if memOn {
		o.Memory = newMem(memPieces)
	}
	if lies&0x40 != 0 {
		o.Readahead = 4 * m.PieceSize
	}
	return New(m, o), right
}

// maxFuzzBytes bounds the piece bytes one input may make the tiers hold, so
// that an input naming many large pieces stays fast.
const maxFuzzBytes = 16 << 20

func pieceBytes(m *meta.Manifest) int64 {
	var n int64
	for _, p := range m.Pieces {
		n += p.Size
	}
	return n
}

// checkRead reads n bytes of e at off and checks the outcome against the
// manifest.
func checkRead(t *testing.T, m *meta.Manifest, r *Reader, e *meta.Entry, off int64, n int, right map[meta.Digest]bool) {
	t.Helper()
	if off < 0 || off > e.Size+1 {
		off = (off%(e.Size+2) + e.Size + 2) % (e.Size + 2)
	}
	p := make([]byte, n)
	got, err := r.ReadAt(context.Background(), e, p, off)
	if got < 0 || got > n {
		t.Fatalf("%s: ReadAt(%d bytes at %d) = %d bytes", e.Path, n, off, got)
	}
	want := wantBytes(m, e, off, n)
	allRight := true
	for _, s := range m.AppendSlices(nil, e, off, int64(n)) {
		allRight = allRight && right[s.Piece.Digest]
	}
	switch {
	case err != nil && !errors.Is(err, io.EOF):
		if allRight {
			t.Fatalf("%s: ReadAt(%d bytes at %d) = %v, though a tier holds every piece at its size", e.Path, n, off, err)
		}
		return // a failed read may have filled p with anything
	case !allRight:
		t.Fatalf("%s: ReadAt(%d bytes at %d) succeeded though no tier holds one of its pieces at its size", e.Path, n, off)
	case got != len(want):
		t.Fatalf("%s: ReadAt(%d bytes at %d) = %d bytes, %v; the file has %d there", e.Path, n, off, got, err, len(want))
	case errors.Is(err, io.EOF) != (got < n):
		t.Fatalf("%s: ReadAt(%d bytes at %d) = %d bytes with error %v", e.Path, n, off, got, err)
	case !bytes.Equal(p[:got], want):
		t.Fatalf("%s: ReadAt(%d bytes at %d) succeeded with other bytes", e.Path, n, off)
	}
}

// wantBytes is the file's bytes [off, off+n), clamped at its end, computed
// from the extents without the reader's code.
func wantBytes(m *meta.Manifest, e *meta.Entry, off int64, n int) []byte {
	var out []byte
	var at int64 // file offset of the extent
	for _, x := range e.Extents {
		d := m.Pieces[x.Piece].Digest
		for i := max(off, at); i < min(at+x.Length, off+int64(n)); i++ {
			out = append(out, trueByte(d, x.Offset+i-at))
		}
		at += x.Length
	}
	return out
}

// fuzzSeeds are encoded manifests: the reader tests' fixture and variants a
// hostile publisher would try.
func fuzzSeeds(f *testing.F) [][]byte {
	m, _, _ := fixture(f, 3*4000+123)
	enc := func(m *meta.Manifest) []byte {
		b, err := m.Encode()
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	seeds := [][]byte{enc(m)}
	// Extents that overlap, repeat a piece, and reach into a piece's end.
	m2, _, _ := fixture(f, 10000)
	x := m2.Entries[1].Extents
	m2.Entries[1].Extents = append(x, meta.Extent{Piece: 0, Offset: 0, Length: m2.Pieces[0].Size})
	m2.Entries[1].Size += m2.Pieces[0].Size
	if m2.Validate() == nil {
		seeds = append(seeds, enc(m2))
	}
	// Two files sharing one piece, and one digest listed twice.
	m3, _, _ := fixture(f, 5000)
	m3.Pieces = append(m3.Pieces, m3.Pieces[0])
	m3.Entries = append(m3.Entries, meta.Entry{Path: "g", Kind: meta.KindFile, Size: 9,
		Extents: []meta.Extent{{Piece: len(m3.Pieces) - 1, Offset: 3, Length: 9}}})
	if m3.Validate() == nil {
		seeds = append(seeds, enc(m3))
	}
	// Version 2: pieces of several units, the last one short, read unit
	// by unit and by ranges.
	m4, _, _ := fixtureV2(f, 200000+70000)
	seeds = append(seeds, enc(m4))
	return seeds
}
