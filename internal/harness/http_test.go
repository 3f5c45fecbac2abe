package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// serve runs handler on a free port of 127.0.0.1 until the test ends and
// returns its base URL.
func serve(t *testing.T, handler http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

func TestFreePorts(t *testing.T) {
	ports, err := FreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] || p <= 0 {
			t.Errorf("FreePorts(3) = %v: want three distinct ports", ports)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Errorf("port %d from FreePorts is not free: %v", p, err)
			continue
		}
		ln.Close()
	}
}

// TestWaitHTTP serves 503 a few times, then 200: WaitHTTP must wait for
// the 200.
func TestWaitHTTP(t *testing.T) {
	var calls atomic.Int64
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	if err := WaitHTTP(timeout(t, 10*time.Second), url+"/ready", nil); err != nil {
		t.Fatal(err)
	}
	if got := calls.Load(); got != 4 {
		t.Errorf("WaitHTTP made %d requests, want 4 (three 503s, then 200)", got)
	}
}

func TestWaitHTTPGivesUp(t *testing.T) {
	url := serve(t, http.NotFoundHandler())
	err := WaitHTTP(timeout(t, 100*time.Millisecond), url+"/missing", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitHTTP of a 404: %v, want an error wrapping context.DeadlineExceeded", err)
	}
	p := start(t, Command{Path: "sh", Args: []string{"-c", "echo no server here >&2; exit 1"}})
	if err := WaitHTTP(timeout(t, 10*time.Second), url+"/missing", p); !errors.Is(err, ErrExited) {
		t.Errorf("WaitHTTP of an exited server: %v, want an error wrapping ErrExited", err)
	}
}
