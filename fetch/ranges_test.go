package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/piecefs/piecefs/meta"
)

const testBlock = 64 << 10

// blockPiece is a piece of 5 blocks (the last one short) and its table.
func blockPiece() (meta.Piece, []byte, []byte) {
	data := testData(4*testBlock + 1234)
	table := meta.BlockTable(data, testBlock)
	return meta.Piece{Digest: meta.Sum(data), Size: int64(len(data)), Blocks: meta.Sum(table)}, data, table
}

// rangeOrigin serves a piece and its table; answer decides how the piece's
// requests are answered.
func rangeOrigin(t *testing.T, p meta.Piece, data, table []byte, answer func(w http.ResponseWriter, r *http.Request)) *origin {
	return newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/" + meta.BlocksPath(p.Blocks):
			_, _ = w.Write(table)
		case "/" + meta.PiecePath(p.Digest):
			answer(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

func serveRange(data []byte) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}
}

func TestRange(t *testing.T) {
	p, data, table := blockPiece()
	flip := func(b []byte, at int) []byte {
		b = bytes.Clone(b)
		b[at] ^= 1
		return b
	}
	tests := []struct {
		name    string
		answer  func(w http.ResponseWriter, r *http.Request)
		first   int
		last    int
		wantErr error
	}{
		{name: "one block", answer: serveRange(data), first: 1, last: 1},
		{name: "the short last block", answer: serveRange(data), first: 4, last: 4},
		{name: "three blocks", answer: serveRange(data), first: 1, last: 3},
		{name: "all blocks", answer: serveRange(data), first: 0, last: 4},
		{name: "server ignores Range", first: 2, last: 3, answer: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(data)
		}},
		{name: "flipped byte in the span", answer: serveRange(flip(data, 2*testBlock+7)), first: 2, last: 2, wantErr: ErrCorrupt},
		{name: "flipped byte beside the span", answer: serveRange(flip(data, 3*testBlock)), first: 2, last: 2},
		{name: "whole piece with a flipped byte", first: 0, last: 0, wantErr: ErrCorrupt, answer: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(flip(data, 4*testBlock+1))
		}},
		{name: "206 of another range", first: 1, last: 1, wantErr: ErrContentRange, answer: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", testBlock-1, len(data)))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[:testBlock])
		}},
		{name: "206 without Content-Range", first: 1, last: 1, wantErr: ErrContentRange, answer: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[testBlock : 2*testBlock])
		}},
		{name: "206 of another total size", first: 1, last: 1, wantErr: ErrContentRange, answer: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", testBlock, 2*testBlock-1, len(data)+1))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[testBlock : 2*testBlock])
		}},
		{name: "206 cut short", first: 1, last: 2, wantErr: ErrShortBody, answer: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", testBlock, 3*testBlock-1, len(data)))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[testBlock : 2*testBlock+100])
		}},
		{name: "200 of another length", first: 0, last: 0, wantErr: ErrLength, answer: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)-1))
			_, _ = w.Write(data[:len(data)-1])
		}},
		{name: "404", first: 0, last: 0, wantErr: errNotFound, answer: http.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := rangeOrigin(t, p, data, table, tt.answer)
			f := newFetcher(t, o.URL, Options{Attempts: 2})
			if _, err := f.Blocks(context.Background(), p, testBlock); err != nil {
				t.Fatal(err)
			}
			s := Span{Piece: p, BlockSize: testBlock, First: tt.first, Last: tt.last}
			got, err := fetchSpanOf(f, s)
			off, n := s.Bytes()
			switch {
			case tt.wantErr == errNotFound:
				checkErr(t, err, nil, http.StatusNotFound)
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) || got != nil {
					t.Fatalf("Range = %d bytes, %v; want an error wrapping %v", len(got), err, tt.wantErr)
				}
			case err != nil || !bytes.Equal(got, data[off:off+n]):
				t.Fatalf("Range = %d bytes, %v; want bytes [%d, +%d) of the piece", len(got), err, off, n)
			}
		})
	}
}

// TestRangeSharedAndRanged checks that concurrent readers of one span share
// one request, that the request asks for just the span, and that the block
// table is fetched once.
func TestRangeSharedAndRanged(t *testing.T) {
	p, data, table := blockPiece()
	var mu sync.Mutex
	var ranges []string
	release := make(chan struct{})
	o := rangeOrigin(t, p, data, table, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		<-release
		serveRange(data)(w, r)
	})
	f := newFetcher(t, o.URL, Options{})
	s := Span{Piece: p, BlockSize: testBlock, First: 3, Last: 4}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := fetchSpanOf(f, s)
			errs <- err
		}()
	}
	for {
		mu.Lock()
		n := len(ranges)
		mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let the other readers join the flight
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := fmt.Sprintf("bytes=%d-%d", 3*testBlock, len(data)-1)
	if len(ranges) != 1 || ranges[0] != want {
		t.Errorf("piece requests %q, want one asking for %q", ranges, want)
	}
	if hits := o.hits.Load(); hits != 2 {
		t.Errorf("%d requests, want 2 (the table once, the range once)", hits)
	}
}

func TestBlocks(t *testing.T) {
	p, data, table := blockPiece()
	t.Run("one block needs no table", func(t *testing.T) {
		o := newOrigin(t, http.NotFound)
		small := meta.Piece{Digest: meta.Sum(data[:100]), Size: 100}
		bs, err := newFetcher(t, o.URL, Options{}).Blocks(context.Background(), small, testBlock)
		if err != nil || len(bs) != 1 || bs[0] != small.Digest || o.hits.Load() != 0 {
			t.Fatalf("Blocks = %v, %v after %d requests; want the piece's digest and no request", bs, err, o.hits.Load())
		}
	})
	t.Run("a wrong table is refused", func(t *testing.T) {
		bad := bytes.Clone(table)
		bad[0] ^= 1
		o := rangeOrigin(t, p, data, bad, serveRange(data))
		if _, err := newFetcher(t, o.URL, Options{Attempts: 2}).Blocks(context.Background(), p, testBlock); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Blocks with a damaged table = %v, want ErrCorrupt", err)
		}
	})
	t.Run("kept", func(t *testing.T) {
		o := rangeOrigin(t, p, data, table, serveRange(data))
		f := newFetcher(t, o.URL, Options{})
		for range 3 {
			if _, err := f.Blocks(context.Background(), p, testBlock); err != nil {
				t.Fatal(err)
			}
		}
		if hits := o.hits.Load(); hits != 1 {
			t.Errorf("%d requests for three lookups of one table, want 1", hits)
		}
	})
}

// fetchSpanOf fetches the bytes of span s with Range.
func fetchSpanOf(f *Fetcher, s Span) ([]byte, error) {
	off, n := s.Bytes()
	return f.Range(context.Background(), s.Piece, s.BlockSize, off, n)
}

// TestRangeJoinsOverlappingFlights: a read of blocks that a wider request
// in flight covers waits for it instead of asking again, and a read that
// reaches past it asks only for the blocks beyond.
func TestRangeJoinsOverlappingFlights(t *testing.T) {
	p, data, table := blockPiece()
	var mu sync.Mutex
	var asked []string
	release := make(chan struct{})
	o := rangeOrigin(t, p, data, table, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.Header.Get("Range"))
		mu.Unlock()
		<-release
		serveRange(data)(w, r)
	})
	f := newFetcher(t, o.URL, Options{})
	if _, err := f.Blocks(context.Background(), p, testBlock); err != nil {
		t.Fatal(err)
	}
	wide := Span{Piece: p, BlockSize: testBlock, First: 0, Last: 2}
	errs := make(chan error, 3)
	go func() { _, err := fetchSpanOf(f, wide); errs <- err }()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(asked) == 1 })
	results := make(chan []byte, 2)
	for _, s := range []Span{{Piece: p, BlockSize: testBlock, First: 1, Last: 2}, {Piece: p, BlockSize: testBlock, First: 2, Last: 4}} {
		go func() {
			b, err := fetchSpanOf(f, s)
			errs <- err
			if err == nil {
				off, n := s.Bytes()
				if !bytes.Equal(b, data[off:off+n]) {
					b = nil
				}
			}
			results <- b
		}()
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(asked) == 2 })
	time.Sleep(20 * time.Millisecond) // a third request, if any, would show now
	close(release)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if b := <-results; b == nil {
			t.Error("a joined read returned other bytes than the piece's")
		}
	}
	want := []string{fmt.Sprintf("bytes=0-%d", 3*testBlock-1), fmt.Sprintf("bytes=%d-%d", 3*testBlock, len(data)-1)}
	if fmt.Sprint(asked) != fmt.Sprint(want) {
		t.Errorf("requests %q, want %q", asked, want)
	}
}

// TestRangeSink: verified blocks reach the Sink at their offsets and are
// committed; a span whose block fails verification commits nothing.
func TestRangeSink(t *testing.T) {
	p, data, table := blockPiece()
	for _, tt := range []struct {
		name   string
		served []byte
		want   map[int64]int64 // offset → length written
	}{
		{"verified", data, map[int64]int64{1 * testBlock: 2 * testBlock}},
		{"corrupt", corrupt(data), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sink := &partSink{}
			o := rangeOrigin(t, p, data, table, serveRange(tt.served))
			f := newFetcher(t, o.URL, Options{Sink: sink, Attempts: 1})
			_, err := fetchSpanOf(f, Span{Piece: p, BlockSize: testBlock, First: 1, Last: 2})
			if (err != nil) != (tt.want == nil) {
				t.Fatalf("Range: %v", err)
			}
			f.Close() // the commit runs after Range returns; Close waits for it
			if fmt.Sprint(sink.committed) != fmt.Sprint(tt.want) {
				t.Errorf("committed %v, want %v", sink.committed, tt.want)
			}
			for off, n := range sink.committed {
				if !bytes.Equal(sink.w.buf[off:off+n], data[off:off+n]) {
					t.Errorf("bytes at %d are not the piece's", off)
				}
			}
		})
	}
}

// partSink keeps one writer and what its Commit made durable.
type partSink struct {
	w         *memWriter
	committed map[int64]int64
}

func (s *partSink) Load(meta.Piece) ([]byte, error) { return nil, fs.ErrNotExist }

func (s *partSink) Create(p meta.Piece) (Writer, error) {
	s.w = newMemWriter(p, nil)
	return partCommitter{s}, nil
}

type partCommitter struct{ s *partSink }

func (c partCommitter) WriteAt(b []byte, off int64) (int, error) { return c.s.w.WriteAt(b, off) }
func (c partCommitter) Commit() error                            { c.s.committed = c.s.w.have; return nil }
func (c partCommitter) Abort() error                             { return nil }

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRangeCorruptBlockFailsOnlyItsReads: a read of good blocks that joins
// a wider flight failing on a corrupt block is asked for again on its own
// and served; the read of the corrupt block fails.
func TestRangeCorruptBlockFailsOnlyItsReads(t *testing.T) {
	p, data, table := blockPiece()
	bad := bytes.Clone(data)
	bad[3*testBlock+5] ^= 1
	release := make(chan struct{})
	var once sync.Once
	o := rangeOrigin(t, p, data, table, func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { <-release }) // hold the first (wide) request until the reader has joined it
		serveRange(bad)(w, r)
	})
	f := newFetcher(t, o.URL, Options{Attempts: 1})
	if _, err := f.Blocks(context.Background(), p, testBlock); err != nil {
		t.Fatal(err)
	}
	wideErr := make(chan error, 1)
	go func() {
		_, err := fetchSpanOf(f, Span{Piece: p, BlockSize: testBlock, First: 0, Last: 4})
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
	time.Sleep(20 * time.Millisecond) // let it join the wide flight
	close(release)
	if err := <-wideErr; !errors.Is(err, ErrCorrupt) {
		t.Errorf("the span with the corrupt block: %v, want ErrCorrupt", err)
	}
	if err := <-good; err != nil {
		t.Errorf("good blocks that joined the failing flight: %v, want their bytes", err)
	}
	if _, err := fetchSpanOf(f, Span{Piece: p, BlockSize: testBlock, First: 3, Last: 3}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("the corrupt block alone: %v, want ErrCorrupt", err)
	}
}

// TestRangeFetchesTableBeside: the first range of a piece is asked for
// while its block table is on its way, not after; a table that does not
// verify fails the range, with nothing committed.
func TestRangeFetchesTableBeside(t *testing.T) {
	p, data, table := blockPiece()
	for _, tt := range []struct {
		name  string
		table []byte
		want  error
	}{{"good table", table, nil}, {"damaged table", corrupt(table), ErrCorrupt}} {
		t.Run(tt.name, func(t *testing.T) {
			rangeAsked := make(chan struct{})
			var once sync.Once
			var together atomic.Bool
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/" + meta.BlocksPath(p.Blocks):
					select { // hold the table until the range is asked for
					case <-rangeAsked:
						together.Store(true)
					case <-time.After(2 * time.Second):
					}
					_, _ = w.Write(tt.table)
				case "/" + meta.PiecePath(p.Digest):
					once.Do(func() { close(rangeAsked) })
					serveRange(data)(w, r)
				}
			})
			sink := &partSink{}
			f := newFetcher(t, o.URL, Options{Sink: sink, Attempts: 1})
			got, err := fetchSpanOf(f, Span{Piece: p, BlockSize: testBlock, First: 1, Last: 1})
			switch {
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("Range = %v, want %v", err, tt.want)
			case tt.want == nil && (err != nil || !bytes.Equal(got, data[testBlock:2*testBlock])):
				t.Fatalf("Range = %d bytes, %v", len(got), err)
			}
			f.Close()
			if !together.Load() {
				t.Error("the range was asked for only after the table arrived")
			}
			if tt.want != nil && len(sink.committed) != 0 {
				t.Errorf("committed %v from a range verified against no good table", sink.committed)
			}
		})
	}
}
