package fetch

import (
	"net/http"
	"time"
)

// NewClient returns the client a Fetcher uses when Options.Client is nil: a
// clone of http.DefaultTransport, so it takes its proxy from HTTP_PROXY,
// HTTPS_PROXY and NO_PROXY and keeps connections alive, with more idle
// connections per host (a mount talks to one origin, many pieces at a time)
// and a bound on the wait for response headers. It follows at most 10
// redirects and then fails with ErrTooManyRedirects.
//
// The client has no overall Timeout: every request carries a context that
// bounds it, which unlike http.Client.Timeout also ends the retries.
func NewClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 64
	t.MaxIdleConnsPerHost = 16
	t.ResponseHeaderTimeout = 15 * time.Second
	return &http.Client{Transport: t, CheckRedirect: checkRedirect}
}

func checkRedirect(_ *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return ErrTooManyRedirects
	}
	return nil
}
