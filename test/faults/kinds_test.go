package faults

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// The faults, each as an origin (or something between it and the fetcher)
// could really misbehave.

// waitGone blocks until the client goes away or the origin shuts down.
func waitGone(r *http.Request, quit <-chan struct{}) {
	select {
	case <-r.Context().Done():
	case <-quit:
	}
}

// pause waits for d unless the origin shuts down first.
func pause(d time.Duration, quit <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-quit:
	}
}

// serveBody writes body with a Content-Length of declared bytes.
func serveBody(w http.ResponseWriter, body []byte, declared int) {
	w.Header().Set("Content-Length", strconv.Itoa(declared))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body) // a write beyond declared fails, as intended
}

func flush(w http.ResponseWriter) { w.(http.Flusher).Flush() }

// correct serves the right bytes.
func correct(w http.ResponseWriter, _ *http.Request, body []byte, _ <-chan struct{}) {
	serveBody(w, body, len(body))
}

// status answers with code and the given header pairs.
func status(code int, header ...string) fault {
	return func(w http.ResponseWriter, r *http.Request, _ []byte, _ <-chan struct{}) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		http.Error(w, http.StatusText(code), code)
	}
}

// stallHeaders accepts the request and never answers.
func stallHeaders(_ http.ResponseWriter, r *http.Request, _ []byte, quit <-chan struct{}) {
	waitGone(r, quit)
}

// stallBody sends the headers and half the body, then nothing more.
func stallBody(w http.ResponseWriter, r *http.Request, body []byte, quit <-chan struct{}) {
	serveBody(w, body[:len(body)/2], len(body))
	flush(w)
	waitGone(r, quit)
}

// drip sends the body one byte a second.
func drip(w http.ResponseWriter, r *http.Request, body []byte, quit <-chan struct{}) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	for i := range body {
		if _, err := w.Write(body[i : i+1]); err != nil {
			return
		}
		flush(w)
		select {
		case <-time.After(time.Second):
		case <-r.Context().Done():
			return
		case <-quit:
			return
		}
	}
}

// shortBody declares the right length, sends half, and closes the
// connection (net/http closes it because the body fell short).
func shortBody(w http.ResponseWriter, _ *http.Request, body []byte, _ <-chan struct{}) {
	serveBody(w, body[:len(body)/2], len(body))
}

// longBody sends the piece and more, without a Content-Length.
func longBody(w http.ResponseWriter, _ *http.Request, body []byte, _ <-chan struct{}) {
	w.WriteHeader(http.StatusOK)
	flush(w) // commit to chunked encoding before the length is known
	_, _ = w.Write(append(bytes.Clone(body), "and then some"...))
}

// corrupt sends a body of the right length with one bit flipped.
func corrupt(w http.ResponseWriter, _ *http.Request, body []byte, _ <-chan struct{}) {
	b := bytes.Clone(body)
	b[len(b)/2] ^= 0x10
	serveBody(w, b, len(b))
}

// wrongLength sends the right body under a Content-Length off by delta.
func wrongLength(delta int) fault {
	return func(w http.ResponseWriter, _ *http.Request, body []byte, _ <-chan struct{}) {
		serveBody(w, body, len(body)+delta)
	}
}

// partial answers 200's bytes as a 206, which a request without Range must
// not get.
func partial(w http.ResponseWriter, _ *http.Request, body []byte, _ <-chan struct{}) {
	w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(body)-1, len(body)))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusPartialContent)
	_, _ = w.Write(body)
}

// redirectLoop redirects the request to itself.
func redirectLoop(w http.ResponseWriter, r *http.Request, _ []byte, _ <-chan struct{}) {
	http.Redirect(w, r, r.URL.Path, http.StatusFound)
}

// redirectTo redirects the request to the same path under base, which is
// how one piece's connection can be refused while the rest are served.
func redirectTo(base string) fault {
	return func(w http.ResponseWriter, r *http.Request, _ []byte, _ <-chan struct{}) {
		http.Redirect(w, r, base+r.URL.Path, http.StatusFound)
	}
}

// hijack takes the connection over from net/http.
func hijack(w http.ResponseWriter) (*net.TCPConn, *bufio.ReadWriter, bool) {
	c, rw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return nil, nil, false
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, nil, false
	}
	return tc, rw, true
}

// hangUp closes the connection without answering.
func hangUp(w http.ResponseWriter, _ *http.Request, _ []byte, _ <-chan struct{}) {
	if c, _, ok := hijack(w); ok {
		c.Close()
	}
}

// resetBody sends the headers and half the body, then resets the
// connection (SO_LINGER 0 makes close send RST instead of FIN).
func resetBody(w http.ResponseWriter, _ *http.Request, body []byte, quit <-chan struct{}) {
	c, rw, ok := hijack(w)
	if !ok {
		return
	}
	defer c.Close()
	fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
	_, _ = rw.Write(body[:len(body)/2])
	if rw.Flush() != nil {
		return
	}
	// Give the client time to start on the body, so the reset lands in the
	// middle of it rather than before the headers.
	pause(20*time.Millisecond, quit)
	_ = c.SetLinger(0)
}

// smuggle sends the right response and, on the same connection straight
// after it, a second, unrequested response with other bytes, as a confused
// proxy might. The piece asked for must come out right, and the extra
// response must not be taken as the answer to a later request. (net/http
// logs the unsolicited bytes; keeping them short keeps the log short.)
func smuggle(w http.ResponseWriter, _ *http.Request, body []byte, _ <-chan struct{}) {
	c, rw, ok := hijack(w)
	if !ok {
		return
	}
	defer c.Close()
	for _, b := range [][]byte{body, []byte("wrong")} {
		fmt.Fprintf(rw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(b))
		_, _ = rw.Write(b)
	}
	_ = rw.Flush()
}

// stallUntil holds the request until release is closed and then answers it
// correctly; arrived is closed when the request is in.
func stallUntil(arrived, release chan struct{}) fault {
	return func(w http.ResponseWriter, r *http.Request, body []byte, quit <-chan struct{}) {
		close(arrived)
		select {
		case <-release:
			correct(w, r, body, quit)
		case <-r.Context().Done():
		case <-quit:
		}
	}
}
