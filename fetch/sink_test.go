package fetch

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

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

// TestRangeWholePiece: a span of every block of a piece, with a WholeSink,
// is fetched like a whole piece: verified against the piece's digest and
// handed to Put, with no writer and no block written apart. When the piece
// does not verify, a read of good blocks that joined it is still served,
// each of its blocks verified on its own, and the corrupt block fails.
func TestRangeWholePiece(t *testing.T) {
	p, data, table := blockPiece()
	whole := Span{Piece: p, BlockSize: testBlock, First: 0, Last: 4}
	t.Run("good", func(t *testing.T) {
		o := rangeOrigin(t, p, data, table, serveRange(data))
		ps := &puttingStore{}
		f := newFetcher(t, o.URL, Options{Sink: Adapt[*memWriter](ps)})
		got, err := fetchSpanOf(f, whole)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("whole span: %d bytes, %v", len(got), err)
		}
		f.Close()
		if !bytes.Equal(ps.puts[p.Digest], data) || ps.parts != 0 {
			t.Errorf("Put got %d bytes, %d writers made; want the piece in one Put, no writer", len(ps.puts[p.Digest]), ps.parts)
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		bad := bytes.Clone(data)
		bad[3*testBlock+5] ^= 1
		release := make(chan struct{})
		var once sync.Once
		o := rangeOrigin(t, p, data, table, func(w http.ResponseWriter, r *http.Request) {
			once.Do(func() { <-release })
			serveRange(bad)(w, r)
		})
		ps := &puttingStore{}
		f := newFetcher(t, o.URL, Options{Sink: Adapt[*memWriter](ps), Attempts: 1})
		if _, err := f.Blocks(context.Background(), p, testBlock); err != nil {
			t.Fatal(err)
		}
		wideErr := make(chan error, 1)
		go func() {
			_, err := fetchSpanOf(f, whole)
			wideErr <- err
		}()
		waitFor(t, func() bool { return o.hits.Load() == 2 })
		good := make(chan error, 1)
		go func() {
			b, err := fetchSpanOf(f, Span{Piece: p, BlockSize: testBlock, First: 1, Last: 2})
			if err == nil && !bytes.Equal(b, data[testBlock:3*testBlock]) {
				err = errors.New("other bytes")
			}
			good <- err
		}()
		time.Sleep(20 * time.Millisecond) // let it join the whole flight
		close(release)
		if err := <-wideErr; !errors.Is(err, ErrCorrupt) {
			t.Errorf("the whole span: %v, want ErrCorrupt", err)
		}
		if err := <-good; err != nil {
			t.Errorf("good blocks that joined the failing flight: %v, want their bytes", err)
		}
		f.Close()
		if len(ps.puts) != 0 {
			t.Errorf("Put got %d pieces, want none", len(ps.puts))
		}
	})
}
