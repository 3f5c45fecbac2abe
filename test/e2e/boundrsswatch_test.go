package e2e

import (
	"testing"
	"time"
)

// boundRSSWatch samples a mount's resident memory and disk cache while
// TestRSSBounded reads, and keeps the figures it reports.
type boundRSSWatch struct {
	pid       int
	rss, disk *boundSampler
	mix       boundCacheMix

	streamed, random time.Duration
	reads            int
	streamRSS        int64 // largest RSS sampled while streaming
	rssMax, hwm      int64 // set by stop
}

func startBoundRSSWatch(t *testing.T, pid int, pieces string) *boundRSSWatch {
	w := &boundRSSWatch{pid: pid}
	w.rss = startBoundSampler(t, 100*time.Millisecond, func() (int64, bool) {
		v, err := boundProcStatus(pid, "VmRSS")
		return v, err == nil
	})
	w.disk = startBoundSampler(t, 250*time.Millisecond, func() (int64, bool) { return w.mix.measure(pieces), true })
	return w
}

// stop ends the sampling and reads the mount's high-water mark, which
// also covers the moments between samples.
func (w *boundRSSWatch) stop(t *testing.T) {
	t.Helper()
	w.rssMax = w.rss.Stop()
	w.disk.Stop()
	hwm, err := boundProcStatus(w.pid, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	w.hwm = hwm
}

// check logs the figures and holds them to the bounds.
func (w *boundRSSWatch) check(t *testing.T, size int64) {
	t.Helper()
	t.Logf("streamed %s in %v (%.0f MB/s); %d random reads in %v", boundMiB(size), w.streamed.Round(time.Millisecond),
		float64(size)/w.streamed.Seconds()/1e6, w.reads, w.random.Round(time.Millisecond))
	t.Logf("mount RSS: max %s while streaming, max %s overall (%d samples), VmHWM %s; memory tier %s, allowed %s",
		boundMiB(w.streamRSS), boundMiB(w.rssMax), w.rss.samples.Load(), boundMiB(w.hwm), boundMiB(boundRSSMemory), boundMiB(boundRSSMemory+boundRSSSlack))
	t.Logf("disk cache: max %s of piece files (at the max: %s), complete ones at most %s; bound %s",
		boundMiB(w.disk.Max()), &w.mix, boundMiB(w.mix.MaxComplete()), boundMiB(boundRSSDisk))
	if peak := max(w.hwm, w.rssMax); peak >= boundRSSMemory+boundRSSSlack {
		t.Errorf("mount's peak RSS %s, want less than %s (memory tier) + %s", boundMiB(peak), boundMiB(boundRSSMemory), boundMiB(boundRSSSlack))
	}
	if limit := int64(boundRSSDisk + boundInFlight(boundGenPieceSize)); w.disk.Max() > limit {
		t.Errorf("disk cache reached %s of piece files, want at most %s (bound %s + %s in flight)", boundMiB(w.disk.Max()), boundMiB(limit), boundMiB(boundRSSDisk), boundMiB(boundInFlight(boundGenPieceSize)))
	}
	// Complete files alone are only logged: a walk of the fan-out
	// directories is not atomic, so it can count an evicted piece's file
	// and a newly committed one that never existed together. The bound and
	// one piece is checked where it is exact, in what the store records
	// (TestDiskCacheBound); here the total above holds it to the bound, one
	// piece and the writes in flight.
}
