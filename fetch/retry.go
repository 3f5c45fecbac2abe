package fetch

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
)

// retry calls op until it succeeds, fails with an error that no source can
// mend, has been tried maxAttempts times, or ctx ends. Each attempt goes to
// the source pick chooses: an attempt that fails for a reason another try
// could mend (a 5xx, a stall, bytes that do not verify) benches its source,
// so the next attempt goes to another one at once, and waits out a backoff
// only when it must try the same source again; an answer that the source
// would only repeat (a 404, a 403) rules that source out for this fetch
// alone, without benching it: a mirror that lags behind the origin is not
// broken.
func retry[T any](ctx context.Context, f *Fetcher, what string, op func(context.Context, *source) (T, error)) (T, error) {
	var zero T
	skip := make([]bool, len(f.sources))
	max := f.maxAttempts()
	var prev *source
	for attempt := 1; ; attempt++ {
		src := pick(f.sources, skip, time.Now())
		if src == nil {
			return zero, fmt.Errorf("no origin left to try after %d attempts", attempt-1)
		}
		if prev != nil && src != prev {
			f.stats.failovers.Add(1)
		}
		prev = src
		v, err := op(ctx, src)
		if err == nil {
			if src.succeeded() {
				f.log.WithField("origin", src.name).Info("fetch: origin answers again")
			}
			return v, nil
		}
		if len(f.sources) > 1 {
			err = fmt.Errorf("%s: %w", src.name, err)
		}
		again, blamed := retryable(err), blames(ctx, err)
		switch {
		case !blamed:
		case again:
			if d, first := src.failed(time.Now()); first && len(f.sources) > 1 {
				f.benched(src, d, err)
			}
		default:
			skip[slices.Index(f.sources, src)] = true
		}
		var next *source
		if blamed && ctx.Err() == nil && attempt < max {
			next = pick(f.sources, skip, time.Now())
		}
		if next == nil {
			return zero, fmt.Errorf("attempt %d of %d: %w", attempt, max, err)
		}
		f.stats.retries.Add(1)
		// Another origin that is not benched is tried at once; the same
		// one, or a benched one when all are, after the backoff, so that
		// origins that all fail are not asked back to back.
		if next != src && next.usable(time.Now()) {
			f.log.WithFields(logrus.Fields{"object": what, "attempt": attempt, "next": next.name}).WithError(err).Debug("fetch: trying another origin")
			continue
		}
		delay := backoff(f.opts.Backoff, attempt)
		f.log.WithFields(logrus.Fields{"object": what, "attempt": attempt, "delay": delay}).WithError(err).Debug("fetch: retrying")
		if serr := sleep(ctx, delay); serr != nil {
			return zero, fmt.Errorf("attempt %d of %d: %w (then %w while waiting to retry)", attempt, max, err, serr)
		}
	}
}

// maxAttempts is how many attempts one fetch may make: Options.Attempts,
// and one more for each mirror, so that a mirror that fails costs a
// failover rather than one of the origin's tries.
func (f *Fetcher) maxAttempts() int { return f.opts.Attempts + len(f.sources) - 1 }

// backoff is the delay before retry number attempt (1 for the first retry):
// base doubled for each earlier retry (up to a minute), then jittered down by
// up to a half so that clients failing together do not retry together.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < time.Minute; i++ {
		d *= 2
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
