package fetch

import (
	"context"
	"fmt"
)

// Flush waits until every piece and block span handed to the Sink before
// the call has been written and committed (or has failed, which is
// logged), so that a caller can check the Sink for what it fetched. It
// takes all of the room for persisting at once: the background writes
// hold their share until they are done, and new ones wait meanwhile.
func (f *Fetcher) Flush(ctx context.Context) error {
	if err := f.pending.room.Acquire(ctx, maxPersisting); err != nil {
		return fmt.Errorf("fetch: wait for writes to the cache: %w", err)
	}
	f.pending.room.Release(maxPersisting)
	return nil
}
