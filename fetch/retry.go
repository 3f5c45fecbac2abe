package fetch

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sirupsen/logrus"
)

// retry calls op until it succeeds, fails with an error that is not
// retryable, has been tried Attempts times, or ctx ends.
func retry[T any](ctx context.Context, f *Fetcher, what string, op func(context.Context) (T, error)) (T, error) {
	var zero T
	for attempt := 1; ; attempt++ {
		v, err := op(ctx)
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil || !retryable(err) || attempt >= f.opts.Attempts {
			return zero, fmt.Errorf("attempt %d of %d: %w", attempt, f.opts.Attempts, err)
		}
		delay := backoff(f.opts.Backoff, attempt)
		f.stats.retries.Add(1)
		f.log.WithFields(logrus.Fields{"object": what, "attempt": attempt, "delay": delay}).WithError(err).Debug("fetch: retrying")
		if serr := sleep(ctx, delay); serr != nil {
			return zero, fmt.Errorf("attempt %d of %d: %w (then %w while waiting to retry)", attempt, f.opts.Attempts, err, serr)
		}
	}
}

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
