package fetch

import (
	"context"
	"io"
	"net/http"
	"time"
)

// maxErrorBody is how much of an unwanted response body is read out before
// closing it, so that a short error page does not cost the connection.
const maxErrorBody = 4 << 10

// get sends GET url and returns the response if its status is 200 OK; any
// other status is a *StatusError. The caller closes the body.
//
// No Range is sent, so a 206 is never a valid answer here.
//
// The attempt fails with ErrStalled when nothing arrives for
// Options.StallTimeout, before the headers or between body reads.
func (f *Fetcher) get(ctx context.Context, src *source, rel string) (*http.Response, error) {
	return f.send(ctx, src, rel, "", false)
}

// getFresh is get for a mutable object (a tag): it asks every HTTP cache
// on the way to revalidate its copy with the origin (Cache-Control:
// no-cache), so that a shared cache cannot hand out a tag that has moved
// on. Immutable objects are asked for without it, so caches serve them.
func (f *Fetcher) getFresh(ctx context.Context, src *source, rel string) (*http.Response, error) {
	return f.send(ctx, src, rel, "", true)
}

// send is get with a Range header when byteRange is not empty ("bytes=a-b");
// then 206 Partial Content is accepted beside 200, and the caller checks
// which it got.
func (f *Fetcher) send(ctx context.Context, src *source, rel, byteRange string, fresh bool) (*http.Response, error) {
	ctx, w, stop := watch(ctx, f.opts.StallTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.url(rel), nil)
	if err != nil {
		stop()
		return nil, err
	}
	if byteRange != "" {
		req.Header.Set("Range", byteRange)
	}
	if fresh {
		req.Header.Set("Cache-Control", "no-cache")
	}
	f.stats.requests.Add(1)
	src.requests.Add(1)
	resp, err := src.client.Do(req)
	if err != nil {
		stop()
		return nil, w.err(err)
	}
	ok := resp.StatusCode == http.StatusOK || byteRange != "" && resp.StatusCode == http.StatusPartialContent
	if !ok {
		n, _ := io.CopyN(io.Discard, resp.Body, maxErrorBody)
		f.stats.bytes.Add(n)
		src.bytes.Add(n)
		resp.Body.Close()
		stop()
		return nil, &StatusError{Code: resp.StatusCode, URL: req.URL.Redacted()}
	}
	w.timer.Reset(w.idle)
	resp.Body = &watchedBody{ReadCloser: resp.Body, w: w, stop: stop, received: &f.stats.bytes, bySource: &src.bytes}
	return resp, nil
}

// run registers a fetch of kind with Close, bounds it with scope, retries
// op on the sources retry picks, and counts the fetch (see Stats and Options.Observe); what names the
// object in log lines.
func run[T any](ctx context.Context, f *Fetcher, kind, what string, op func(context.Context, *source) (T, error)) (T, error) {
	var zero T
	if err := f.begin(); err != nil {
		return zero, err
	}
	defer f.wg.Done()
	f.stats.inFlight.Add(1)
	defer f.stats.inFlight.Add(-1)
	ctx, cancel := f.scope(ctx)
	defer cancel()
	start := time.Now()
	v, err := retry(ctx, f, what, op)
	f.finished(kind, time.Since(start), err)
	return v, err
}
