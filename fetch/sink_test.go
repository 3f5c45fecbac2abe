package fetch

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// partStore is a PartStore that counts its writers, with Put when put is
// set, as *store.Store has.
type partStore struct {
	mu    sync.Mutex // guards parts, puts
	parts int
	puts  map[meta.Digest][]byte
}

func (s *partStore) Load(p meta.Piece) ([]byte, error) { return (&recordingSink{}).Load(p) }

func (s *partStore) CreatePart(p meta.Piece) (*memWriter, error) {
	s.mu.Lock()
	s.parts++
	s.mu.Unlock()
	return newMemWriter(p, func(meta.Digest, []byte) error { return nil }), nil
}

type puttingStore struct{ partStore }

func (s *puttingStore) Put(d meta.Digest, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.puts == nil {
		s.puts = map[meta.Digest][]byte{}
	}
	s.puts[d] = bytes.Clone(data)
	return nil
}

// TestAdaptWholePieces checks that a whole piece fetched and verified
// against its digest goes to the store's Put in one call when the store
// has one, and through a writer otherwise.
func TestAdaptWholePieces(t *testing.T) {
	data := testData(5000)
	p := pieceOf(data)
	o := newOrigin(t, serve(data))

	ps := &puttingStore{}
	sink := Adapt[*memWriter](ps)
	if _, ok := sink.(WholeSink); !ok {
		t.Fatalf("Adapt of a store with Put is a %T, want a WholeSink", sink)
	}
	f := newFetcher(t, o.URL, Options{Sink: sink})
	if _, err := f.Piece(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	f.Close() // waits for the background write
	if got := ps.puts[p.Digest]; !bytes.Equal(got, data) || ps.parts != 0 {
		t.Errorf("Put got %d bytes and %d writers were made; want the %d bytes in one Put, no writer", len(got), ps.parts, len(data))
	}

	plain := &partStore{}
	sink = Adapt[*memWriter](plain)
	if _, ok := sink.(WholeSink); ok {
		t.Fatalf("Adapt of a store without Put is a WholeSink")
	}
	f = newFetcher(t, o.URL, Options{Sink: sink})
	if _, err := f.Piece(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if plain.parts != 1 {
		t.Errorf("%d writers made for a whole piece without Put, want 1", plain.parts)
	}
}
