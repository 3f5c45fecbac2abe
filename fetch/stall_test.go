package fetch

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestStalledAttemptIsRetried: an attempt that stalls (before the headers,
// or in the middle of the body) is given up after StallTimeout and the next
// attempt, on a new connection, gets the bytes — well within Timeout.
func TestStalledAttemptIsRetried(t *testing.T) {
	data := testData(10000)
	p := pieceOf(data)
	for name, stallAt := range map[string]int{"before headers": -1, "mid-body": 5000} {
		t.Run(name, func(t *testing.T) {
			var n atomic.Int64
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) > 1 {
					w.Write(data)
					return
				}
				if stallAt >= 0 {
					w.Header().Set("Content-Length", strconv.Itoa(len(data)))
					w.Write(data[:stallAt])
					w.(http.Flusher).Flush()
				}
				<-r.Context().Done()
			})
			f := newFetcher(t, o.URL, Options{Timeout: 10 * time.Second, StallTimeout: 100 * time.Millisecond})
			got, err := f.Piece(context.Background(), p)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Piece: %d bytes, %v; want the bytes after a retry", len(got), err)
			}
			if got := n.Load(); got != 2 {
				t.Errorf("origin saw %d requests, want 2", got)
			}
		})
	}
}

// TestSlowButSteadyBodyIsNotAStall: bytes that keep arriving, however
// slowly, keep an attempt alive past StallTimeout.
func TestSlowButSteadyBodyIsNotAStall(t *testing.T) {
	data := testData(20)
	p := pieceOf(data)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		for i := range data {
			w.Write(data[i : i+1])
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
	})
	f := newFetcher(t, o.URL, Options{Timeout: 10 * time.Second, StallTimeout: 200 * time.Millisecond, Attempts: 1})
	got, err := f.Piece(context.Background(), p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Piece: %d bytes, %v; want the bytes of a slow, steady body", len(got), err)
	}
}

func TestStallErrorIsRetryable(t *testing.T) {
	if !retryable(ErrStalled) {
		t.Fatal("ErrStalled is not retryable")
	}
	if errors.Is(ErrStalled, context.Canceled) {
		t.Fatal("ErrStalled must not look like a caller's cancellation")
	}
}
