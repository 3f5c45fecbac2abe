// Package piece chains the three tiers a read goes through: memory, then
// verified pieces and blocks on disk, then the network. It declares the
// small interfaces it needs of each ([Memory], [Disk], [Network]) and
// imports none of the packages that implement them.
//
// # Order
//
// For each piece a read touches, [Reader] asks the memory tier, then the
// disk tier, then the network tier, and stops at the first that has it. A
// piece fetched from the network is put in memory on the way back. The
// network tier has verified it and hands it to the disk tier to be made
// durable in the background (see package fetch), so a read never waits for
// a disk commit.
//
// # Units
//
// A version 1 manifest can be verified only a whole piece at a time, so a
// read of it fetches and keeps whole pieces. A version 2 manifest gives
// every piece's block hashes, and a read of a piece that the disk tier does
// not hold whole goes unit by unit: a unit is max(the manifest's block
// size, [meta.DefaultBlockSize]), whole blocks of the manifest and of the
// disk tier's checksums at once (64 KiB with the default blocks). Each unit
// the read touches comes from memory ([Key] names a piece's unit, or the
// whole piece), else from the disk tier's blocks, and each run of adjacent
// units that neither holds is fetched with one ranged request
// ([Network].Range), so a 1-byte read costs one unit, not a piece. Fetched
// units go to the memory tier.
//
// # Sizes
//
// A piece is named by its digest and its size, as the manifest gives them.
// Every tier's bytes are checked against that size before any of them is
// copied: bytes of another size (a piece cached for another origin whose
// manifest lied, a memory entry, a network answer) are a miss, never served,
// and with no tier holding the piece at its size the read fails. The disk
// tier applies the same rule to ranged reads, which return fewer bytes than
// a whole piece. No range is copied without a bounds check, so no manifest
// value can make a read panic or return a short success.
//
// # Disk reads
//
// When reading is sequential and there is a memory tier, a disk hit loads
// the whole piece into it once (the store verifies it as it loads), so the
// reads that follow, which a sequential reader makes many of per piece, are
// memory hits. A random read, or any read without a memory tier, reads only
// the bytes it needs, so that a 4 KiB read does not cost a 4 MiB one.
//
// # Readahead
//
// Reads are watched for streams moving forward through the manifest's
// units, pieces in the order publish numbered them, so that one mechanism
// serves a large file read front to back and a tar of small files packed
// together. A stream counts as sequential after two steps forward (or one
// from a file's start); then the units ahead of it are fetched into the
// fastest tier that keeps them, in a window that starts at two units
// (128 KiB with the default blocks) and doubles with every step forward up
// to [Options.Readahead] bytes. Each prefetch is a run of a quarter of the
// window, at most a piece and never across one, at most four at a time (on
// as many connections), on goroutines that [Reader.Close] cancels and waits
// for. A read may arrive up to 4 MiB behind its stream's front and still
// continue it, since the kernel sends a file's readahead as several
// requests that arrive out of order. Random reads start no prefetch: over
// 1,000 pieces of 64 units, 0 of 20,000 random reads passed for sequential
// (TestReadaheadRandomUnitsRarelyTrigger).
//
// # Counting
//
// [Reader.Stats] counts, with atomics and no allocation, every slice of a
// read (the part of one piece that a read touches) once it is served: one
// read of the slowest tier it waited for ([Tier]), and its bytes by the
// tier each came from (a slice of units may take some from memory, some
// from disk and the rest from the network). A read that fails counts
// nothing. Readahead counts the prefetches that brought bytes into a
// faster tier (a request to the network, or a disk piece loaded into
// memory) and marks what it put in memory; the first read served from a
// marked entry takes the mark and counts one readahead hit. Marks live in a
// fixed table of fingerprints, four times the window: one overwritten by
// another, or whose entry is evicted unread, is lost, so hits are a lower
// bound.
//
// # Recording
//
// With [Options.Record], every read that reaches the Reader is noted by
// its [Recorder] as a range of its file (path, offset, length; clamped at
// the end of the file), in the order first read: bytes noted already are
// left out. Reads of one file with no other file read between them, a run,
// are kept in offset order and merged where they touch, since the kernel
// sends a file's reads several at a time and they arrive out of order: a
// file read front to back is one range however its reads arrived. Reads
// the kernel serves from its page cache never reach the Reader, so what is
// noted is what a start had to fetch or find in the tiers. The record is
// bounded by [meta.MaxPrefetchRanges] ranges and [meta.MaxPrefetchSize]
// encoded bytes; at the bound it stops, logs so once, and [Recorder.List]
// says it is full. A read of bytes already noted costs a lock, a map lookup
// and a binary search, and allocates nothing.
//
// # Replay
//
// [Reader.Replay] brings a list of slices (a published prefetch list
// resolved against the manifest) into the tiers, in the list's order,
// before the reads that will want them: units (whole pieces, for version 1)
// that memory or disk holds, or that the list named earlier, cost nothing;
// each run of missing units of a piece is one ranged request through the
// network tier, which verifies it and hands it to the disk tier, and the
// first [ReplayOptions].Memory bytes go into memory too. It holds nothing
// a read needs: reads take no part of its bound of [DefaultReplayJobs]
// requests in flight; its requests wait for a [Limiter] before they start
// (in the list's order, from one goroutine); a read of a unit being
// replayed joins that request in the network tier rather than making
// another; and a run that a read brought in while the replay waited is not
// fetched again. What it costs a read sharing the link is bounded by that
// rate and those two requests.
//
// # Damage
//
// A disk piece that turns out missing, unreadable or damaged is not fatal:
// the store drops it, and the read falls through to the network, which
// fetches and stores the piece again.
package piece
