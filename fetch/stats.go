package fetch

import (
	"errors"
	"sync/atomic"
	"time"
)

// Stats counts what a Fetcher has done since New (see "Counting"). The
// counters only grow; InFlight is a level.
type Stats struct {
	Requests       int64 // HTTP requests sent to the origin, retries included
	Pieces         int64 // whole pieces fetched and verified
	Ranges         int64 // runs of blocks fetched and verified (one Range request each)
	Bytes          int64 // response body bytes received from the origin
	Retries        int64 // failed attempts that were tried again
	VerifyFailures int64 // pieces, blocks, block tables and manifests whose bytes did not hash to their digest
	InFlight       int64 // fetches running now (with their retries)
	Failovers      int64 // attempts sent to another origin than the attempt before
	// Origins counts per origin, the one New was given first and then the
	// mirrors in the order given.
	Origins []OriginStats
}

// OriginStats is what a Fetcher has counted of one origin or mirror.
type OriginStats struct {
	URL      string // the base URL, any password redacted
	Requests int64  // HTTP requests sent to it
	Bytes    int64  // response body bytes received from it
	Failures int64  // attempts it failed in a way that benched it
	Healthy  bool   // not benched now: the next fetch may go to it
}

// The kinds of fetch that Options.Observe is told of.
const (
	kindPiece    = "piece"
	kindRange    = "range"
	kindTable    = "table"
	kindManifest = "manifest"
	kindTag      = "tag"
)

// counters are a Fetcher's Stats, counted as the fetches go.
type counters struct {
	requests, pieces, ranges, bytes, retries, verifyFailures, inFlight, failovers atomic.Int64
}

// Stats returns what f has counted so far. Each field is read on its own,
// so a snapshot taken while fetches run may be a few events apart between
// fields.
func (f *Fetcher) Stats() Stats {
	c := &f.stats
	s := Stats{
		Requests: c.requests.Load(), Pieces: c.pieces.Load(), Ranges: c.ranges.Load(),
		Bytes: c.bytes.Load(), Retries: c.retries.Load(), VerifyFailures: c.verifyFailures.Load(),
		InFlight: c.inFlight.Load(), Failovers: c.failovers.Load(),
		Origins: make([]OriginStats, len(f.sources)),
	}
	now := time.Now()
	for i, src := range f.sources {
		s.Origins[i] = OriginStats{URL: src.name, Requests: src.requests.Load(), Bytes: src.bytes.Load(), Failures: src.failures.Load(), Healthy: src.usable(now)}
	}
	return s
}

// finished counts a fetch of kind that ran for d, its retries included,
// and tells Options.Observe of it.
func (f *Fetcher) finished(kind string, d time.Duration, err error) {
	if err == nil {
		switch kind {
		case kindPiece:
			f.stats.pieces.Add(1)
		case kindRange:
			f.stats.ranges.Add(1)
		}
	}
	if f.opts.Observe != nil {
		f.opts.Observe(kind, d, err)
	}
}

// checked counts a verification failure if err is one, and returns b and
// err unchanged; it wraps every reader of bytes that a hash checks.
func (f *Fetcher) checked(b []byte, err error) ([]byte, error) {
	if errors.Is(err, ErrCorrupt) {
		f.stats.verifyFailures.Add(1)
	}
	return b, err
}
