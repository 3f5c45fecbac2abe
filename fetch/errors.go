package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

var (
	// ErrCorrupt means the bytes received do not hash to the digest asked for.
	ErrCorrupt = errors.New("content does not match its sha256")
	// ErrShortBody means the response body ended before the expected size.
	ErrShortBody = errors.New("response body shorter than expected")
	// ErrLongBody means the response body held more than the expected size.
	ErrLongBody = errors.New("response body longer than expected")
	// ErrLength means the response's Content-Length disagrees with the
	// expected size, so the body was not read.
	ErrLength = errors.New("Content-Length does not match the expected size")
	// ErrTooLarge means a manifest is larger than meta.MaxManifestSize. It is
	// not retried: the origin would only send the same bytes again.
	ErrTooLarge = errors.New("larger than the manifest size limit")
	// ErrClosed is returned by Piece, Tag and Manifest once Close has been
	// called.
	ErrClosed = errors.New("fetcher closed")
	// ErrTooManyRedirects is returned by the default client after 10
	// redirects, so a redirect loop ends in an error instead of a hang.
	ErrTooManyRedirects = errors.New("stopped after 10 redirects")
)

// StatusError is an HTTP response whose status the fetcher cannot use.
type StatusError struct {
	Code int    // the response's status code
	URL  string // the URL that answered, any password redacted
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: unexpected status %d %s", e.URL, e.Code, http.StatusText(e.Code))
}

// permanentError marks an error that another attempt would only repeat,
// such as a tag file that does not parse.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// permanent is what an error says when another attempt at the same origin
// would only repeat it: a transport that signs requests for a private
// bucket returns such an error when its credentials are missing or refused.
type permanent interface{ Permanent() bool }

// retryable reports whether another attempt could succeed where err failed.
// Anything not known to be permanent is retried: the attempts are bounded,
// and a transient network failure comes in too many shapes to list.
func retryable(err error) bool {
	var se *StatusError
	var pe *permanentError
	var pm permanent
	switch {
	case errors.As(err, &pe):
		return false
	case errors.As(err, &pm) && pm.Permanent():
		return false
	case errors.As(err, &se):
		return se.Code >= 500 || se.Code == http.StatusTooManyRequests || se.Code == http.StatusRequestTimeout
	case errors.Is(err, ErrTooManyRedirects), errors.Is(err, ErrTooLarge), errors.Is(err, ErrClosed):
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	return true
}
