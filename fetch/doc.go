// Package fetch is the network tier: it downloads pieces, manifests and tags
// from an origin over HTTP and never hands out a byte it has not verified.
//
// # Verification
//
// A piece's body is read into a buffer of exactly the piece's size and hashed
// in the same pass. A Content-Length that disagrees with the size, a body that
// ends early or runs long, a status other than 200, and a sha256 that does
// not match the digest are all errors, and on every error path the bytes are
// dropped: [Fetcher.Piece] returns verified bytes or nothing. A manifest is
// verified the same way against the digest it is fetched by; its buffer
// grows as bytes arrive, whatever Content-Length the origin announces. A tag
// cannot be
// verified (it is the one mutable name) and is only parsed.
//
// # Blocks and ranges
//
// For a version 2 manifest, [Fetcher.Blocks] returns a piece's block table,
// fetched once and checked against the digest the manifest gives, and
// [Fetcher.Range] fetches a run of whole blocks with one HTTP Range request,
// checking each block against its hash as it arrives. A 206 must carry
// exactly the range asked for (Content-Range, length) or the attempt fails
// ([ErrContentRange]); a server that ignores Range and answers 200 with the
// whole piece is served too, every block of it verified. The first range
// of a piece whose table is not kept yet is asked for beside the table, not
// after it, so that a cold read costs one round trip; its bytes wait in the
// connection until the table has arrived and been verified. A block that does
// not match its hash fails the attempt, and with it only the reads of that
// range: the piece's other blocks are fetched and served as usual.
//
// # Deduplication
//
// However many goroutines ask for the same piece or block table at once,
// one request goes to the origin and all of them share its result. Blocks
// are shared block by block: a Range call takes the blocks that a request
// in flight (or one whose bytes are still being committed) already covers
// from it, and requests only the runs of blocks that none covers, so
// overlapping reads and prefetches never fetch a block twice. The download runs on the
// fetcher's own lifetime, bounded by [Options.Timeout], not on the context
// of whichever caller happened to ask first: a caller whose context ends
// returns at once with that context's error while the download carries on
// for the others. The returned slice is shared between those callers and
// must not be modified.
//
// # Persisting
//
// Verified bytes go to [Options.Sink] (the store, which makes them durable
// before it records them) through a [Writer] that fetch declares: Create,
// then WriteAt at the bytes' offsets, then Commit, or Abort if the request
// failed. The writer is opened beside the request, not before it (opening
// one may make and sync a directory). A block span's blocks are written as
// they are verified, a megabyte at a time while the rest of the body is
// still arriving, and what is left once the callers are answered; the commit (the store's fsync and its grouped database
// transaction) runs after the callers have been answered, so no read waits
// for it, and Close waits for it. Commits share the room of whole pieces'
// writes (16 MiB in all): without room, a span commits before its callers
// are answered, so that a disk slower than the network slows reads down
// rather than letting written, uncommitted blocks (which the disk bound
// does not count) and their bytes in memory pile up. A whole piece (version 1,
// or a preheat's) is written and committed in the background once verified
// against its digest, at most 16 MiB at a time, in one call when the Sink
// is a [WholeSink] (the store's Put: a .part file, its fsync, a rename, the
// directory's fsync, one transaction, and no second hash of the piece);
// callers are served from the bytes meanwhile, and a caller that asks again
// during the write gets them from memory rather than from a second request.
// With that room taken, the flight writes before it returns, so a disk
// slower than the network slows reads instead of growing memory. Sink
// failures (a full disk) are logged and otherwise ignored: the bytes are good
// and the read that asked for them is served. Once Close has begun, whole
// pieces are no longer written (they are fetched again when next read);
// block spans already received are committed.
//
// # Retries
//
// Errors are typed ([StatusError], [ErrCorrupt], [ErrShortBody],
// [ErrLongBody], [ErrLength]) and one function decides which are worth
// another try: server errors (5xx), 408, 429, network failures, bad lengths
// and corruption are retried up to [Options.Attempts] times with jittered
// exponential backoff; other statuses (404, 403, 400, ...) and redirect
// loops are not. Retrying stops as soon as the fetch's context ends, so a
// read of an uncached piece fails within [Options.Timeout] when the origin is
// down or stalls, rather than hanging.
//
// # Origins and mirrors
//
// A Fetcher reads from its origin and from [Options.Mirrors], in that order
// of preference. Each attempt goes to the first of them that is not
// benched. An attempt that fails in a way another try could mend (a 5xx,
// a connection refused, a stall, bytes that do not verify, a bad length or
// Content-Range) benches its source for a second, doubled for each further
// failure in a row up to five minutes, so the next attempt goes to the
// next source at once, with no backoff, and the fetches after it do not
// hammer a source that keeps failing; the first fetch that needs it after
// the bench tries it again, and one success ends its failures. When every
// source left is benched, the one whose bench ends first is tried, after
// the usual backoff. An answer the source would only repeat (404, 403)
// rules it out for that one fetch, without benching it: a mirror that lags
// behind the origin is not broken. A fetch has [Options.Attempts] attempts
// and one more per mirror, all within [Options.Timeout]; the stall timeout
// defaults to the timeout shared among them. Everything is verified the
// same way wherever it came from, so a mirror needs no trust. Tags are not
// verifiable: a tag is read from the first source that answers for it,
// the origin unless it fails. [Fetcher.Stats] counts requests, bytes and
// failures per source, and the failovers.
//
// # Counting
//
// [Fetcher.Stats] returns counters kept with atomics on the paths above,
// for metrics and status: HTTP requests sent and response body bytes
// received (error pages included), whole pieces and block runs fetched and
// verified, retries, verification failures (a piece, block, block table or
// manifest whose bytes do not hash to their digest, counted once per
// attempt that met it) and the fetches running now. A fetch served from
// another's flight, from bytes being persisted or from the Sink sends no
// request and counts nothing. [Options.Observe] is told of every fetch
// when it ends (its kind, its time with retries, its error), for a latency
// histogram.
//
// # Shutdown
//
// [Fetcher.Close] cancels every download in flight and waits for them, and
// for the background writes, to return; afterwards every method fails with
// [ErrClosed].
package fetch
