package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// pollEvery is how often WaitHTTP asks again.
const pollEvery = 20 * time.Millisecond

// FreePorts returns n distinct ports on 127.0.0.1 that were free a moment
// ago, for a server that cannot be told to pick its own (nginx). Another
// process may take one meanwhile; the server then fails to start.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		defer l.Close() // held until all are picked, so that they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// LoopbackURL is the base URL of a server on port of 127.0.0.1.
func LoopbackURL(port int) string { return fmt.Sprintf("http://127.0.0.1:%d", port) }

// WaitHTTP polls url until a GET answers 200 OK. It fails when p (if not
// nil), the server, exits first (the error wraps ErrExited), or when ctx
// ends.
func WaitHTTP(ctx context.Context, url string, p *Process) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		err := get(ctx, client, url)
		if err == nil {
			return nil
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s %w (%v) before serving %s\nstderr: %s", p.name, ErrExited, p.Err(), url, p.stderrTail())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not serving: %w (last try: %v)", url, context.Cause(ctx), err)
		case <-tick.C:
		}
	}
}

func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
