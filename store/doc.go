// Package store keeps verified pieces and manifests on local disk, in a
// cache directory that survives restarts and crashes.
//
// Nothing wrong is ever served, nothing recorded is lost to a crash, and
// nothing hangs: each of the sections below states how. Besides complete
// pieces, the store keeps verified blocks of pieces it holds only in part
// (see "Partial pieces").
//
// # Layout
//
// A cache directory DIR holds:
//
//	DIR/piecefs.db                 bbolt database
//	DIR/piecefs.lock               held (flock) by the process using the directory
//	DIR/piecefs.db.corrupt-<time>  a damaged database, moved aside (see "Damage")
//	DIR/pieces/ab/<hex>            complete pieces (ab = first two hex digits)
//	DIR/pieces/ab/<hex>.part       a piece being written; never read, removed at start
//	DIR/pieces/ab/<hex>.blocks     a partial piece: the piece's full size (sparse), some
//	                               blocks recorded; never served as a complete piece
//	DIR/manifests/<hex>.json       manifests seen (same durable write)
//
// <hex> is the 64 lowercase hex digits of the sha256 of the file's content.
// Temporary manifest files end in ".part" too.
//
// The database has eight buckets, created at open (see [BucketPieces],
// [BucketManifests], [BucketTags], [BucketAtime], [BucketBlocks],
// [BucketPartial], [BucketPins], [BucketClean]):
//
//	pieces     32 raw digest bytes → 8-byte big-endian size of a complete piece
//	manifests  32 raw digest bytes → 8-byte big-endian size of a cached manifest
//	tags       origin + "\x00" + tag → 32 raw digest bytes of the manifest
//	atime      32 raw digest bytes → 8-byte big-endian unix seconds of the last read
//	           of a complete or partial piece
//	blocks     32 raw digest bytes → the CRC-32C (Castagnoli) of each 64 KiB block
//	           of a complete piece, in order, 4 bytes big-endian each; the last
//	           block may be short; a piece of 0 bytes has an empty value; for a
//	           piece trusted on a block table (see "Verification"), followed by
//	           the 32 bytes of that table's digest, not all zero
//	partial    32 raw digest bytes → for a partial piece of n blocks:
//	             8 bytes   size of the piece, big-endian (not 0)
//	             32 bytes  digest of the block table its blocks were verified
//	                       against (meta.Piece.Blocks), zeros for none
//	             (n+7)/8   bitmap: block i is on disk iff bit i%8 (least
//	                       significant first) of byte i/8 is set; the bits
//	                       past block n-1 are 0
//	             4n bytes  the CRC-32C of each block, big-endian, 0 for a block
//	                       not on disk
//	           at least one block and not every block is on disk; any other
//	           value is malformed
//	pins       owner (an opaque string of 1 to 32,768 bytes) → the pieces it pins:
//	             1 byte    version, 1
//	             40 bytes  per piece: its digest (32 raw bytes) and its size
//	                       (8 bytes big-endian), digests strictly ascending
//	             4 bytes   the CRC-32C of all the above, big-endian
//	           any other value is malformed
//	clean      "txid" → 8-byte big-endian id of the transaction that wrote it, at a
//	           clean Close (see "Clean close")
//
// A piece is complete if and only if it has a record in bucket pieces; its
// file then exists and has that size. A piece is partial if and only if it
// has a record in bucket partial; its .blocks file then exists and has the
// piece's size. No digest has both. A record in bucket blocks exists only
// for a complete piece, one in bucket atime only for a complete or partial
// piece. Every piece this version commits has
// its record in blocks, written in the same transaction as its record in
// pieces; only a piece an older version recorded may lack one (see
// "Verification"). The block size is fixed by the bucket: checksums of
// other blocks would need another bucket name.
//
// # Crash safety
//
// What a crash can leave behind is either complete and verified or absent.
// A piece is written to <hex>.part and made durable in this order: fsync the
// file, close it, check its size, rename it to <hex>, fsync the directory,
// record it in bbolt, its record in bucket pieces and its checksums in
// bucket blocks in one transaction (fsync on), so that no crash leaves a
// piece recorded without its checksums. A failure at any step removes what
// was written and records nothing. The .part name is never read. When the disk
// bound needs room, the commit evicts between the size check and the
// rename (see "Disk bound"); an eviction deletes records before files.
// Partial pieces follow an order of their own (see "Partial pieces").
//
// Open reconciles the directory with the database before anything is
// served: it removes every .part file, drops every record whose file is
// missing or has the wrong size (with the file), deletes the access times
// and checksums left without a record, and removes every file without a
// record (a crash between rename and record, or between an eviction's
// record deletion and its file removal). The one exception is a piece file
// of the size that a partial record of its digest records: a partial
// piece's completion that a crash interrupted, which Open checks and
// finishes first (see "Partial pieces"). Dropped pieces are fetched again
// when next read. The same holds for manifests. A drop or an eviction
// deletes a piece's record, access time and checksums in one transaction.
//
// # Clean close
//
// The scan costs a directory read per fan-out directory and an lstat per
// file, at every start, and it grows with the cache. It looks for what a
// crash leaves, and a clean close leaves none of it, so it is skipped
// after one. Open also reads the database file once, in file order, before
// checking it, so that the check's walk of every page through bbolt's map
// (in B+tree order, one 4 KiB fault at a time) finds it in the page cache.
// With a cold page cache, on synthetic caches of 4 MiB pieces here (the
// database 40 MB at 25,600 pieces; medians of 5 to 7, one run): "before"
// is the scan without the ordered read, "scanning" with it (after a
// crash), "clean close" neither:
//
//	pieces   before   scanning   clean close
//	   256   25.7 ms     25 ms       4.0 ms
//	 4,096    142 ms     89 ms      17.6 ms
//	25,600    840 ms    524 ms        72 ms
//
// Close marks the directory clean when no Writer or Part is open and no
// removal the store attempted has failed: it records, in bucket clean, the
// id of the transaction that writes the last access times (or of one of
// its own if there are none). Open trusts the mark only if it is still
// the id of the last transaction committed, so any later commit, by this
// version or one that knows nothing of the mark, spoils it. It then takes the records as the
// state of the directory, reading the database alone. Because files are
// written before their records, a store opened on the mark deletes it, in
// a transaction of its own, before the first file it writes (a .part, a
// .blocks, a manifest), so that a crash after that write finds no mark and
// the next Open scans. A process that only reads writes nothing at Close
// when no access time moved, and the mark stays valid.
//
// A version that knows nothing of the mark spoils it with its first
// commit; one that crashes before committing anything can leave only files
// that no record names (a .part, a .blocks, a piece renamed into place),
// which are never read and which the next scan removes.
//
// What the mark trusts is the database; damage to the files while the
// directory was closed (a file deleted, truncated, extended or changed) is
// met by the read that reaches it, as in "Damage", and never served. A file
// put there by hand stays until a scan, which the next Open after a crash
// makes.
//
// Records are committed in groups: a commit that finds none running runs
// its transaction at once, and the commits that arrive while it runs share
// the next transaction and its fsync. So a lone commit costs one
// transaction and nothing waits for company (bbolt's Batch held every
// commit back 10ms, which a cold random read's commit paid in full).
//
// # Partial pieces
//
// A reader that fetches ranges of a piece (blocks verified against the
// piece's block table; see meta) keeps them through a [Part]:
// [Store.CreatePart] opens the piece's partial file
// DIR/pieces/ab/<hex>.blocks, creating it with the piece's full size
// (sparse) if the piece has none yet; [Part.WriteAt] writes whole blocks at
// their offsets and computes each block's CRC-32C from the caller's bytes;
// [Part.Commit] records them. A block counts as on disk, and is served,
// only once its record is committed, and its record is committed only
// after its bytes are durable:
//
//  1. write the blocks into <hex>.blocks (the caller verified them);
//  2. fsync the file, then close it;
//  3. make room under the disk bound (see "Disk bound");
//  4. if this is the file's first record, fsync its directory;
//  5. record the blocks, those recorded before and these, in bucket
//     partial (one transaction, shared with concurrent commits).
//
// If the Part's blocks are the piece's last (every block is then on disk,
// counting those other Parts recorded), Commit completes the piece instead.
// If the piece has no partial record yet (the usual whole-piece fetch, a
// Part that wrote every block), it takes exactly a [Writer]'s steps and
// writes no partial record: after step 3, rename <hex>.blocks to <hex>,
// fsync the directory, and in one transaction record the piece in buckets
// pieces and blocks (the checksums of all its blocks). If the piece has a
// partial record, that record keeps its file at every step:
//
//  6. link <hex>.blocks to <hex>: the piece's name becomes a second name
//     of the same file;
//  7. fsync the directory;
//  8. in one transaction, record the piece in buckets pieces and blocks
//     and delete its record in bucket partial;
//  9. remove the name <hex>.blocks.
//
// On a file system that makes no hard links (link fails with EPERM,
// ENOTSUP, EXDEV, EMLINK or ENOSYS), step 6 renames the file instead and
// step 9 has nothing to do. A piece with a block table is recorded trusted
// on that table (its digest beside the checksums in bucket blocks) and not
// hashed: every one of its blocks was verified against the table, as every
// Part's blocks are, so it is served as it is to readers that trust the
// same table, and hashed whole before any other reader's first read (see
// "Verification"). Hashing it here too was the second sha256 of every byte
// of a cold read: 14% of the mount's CPU in a cold 1 GiB read, which cost
// 4.4 core-ms per MiB with it and 3.6 without (276 and 319 MiB/s, medians
// of six alternating runs on a loaded machine). Before
// step 6 (or the rename of a piece without a partial record), a piece
// without a block table put together from the blocks of more than one Part
// is hashed whole against its digest (the sha256 of 4 MiB takes ~2.5 ms,
// BenchmarkCheck): its callers checked nothing but their own writes. A
// piece that does not hash right is dropped, and the Commit fails with an
// error wrapping [ErrCorrupt]. A Part of a piece without a block table that
// writes the whole piece vouches for it, as a Writer's caller does.
//
// What a crash leaves is therefore, for each block, recorded with its bytes
// durable, or not recorded: a crash before step 5 loses the Part's blocks
// (their bytes stay in the file, unrecorded, until written again or the
// file goes), never those recorded before. A crash during a completion
// loses nothing recorded either, at any point:
//
//   - before step 6, or before a link or rename that step 7 had not yet
//     made durable, the partial piece stays as it was recorded;
//   - between step 6 and step 8, the file <hex>, which no record in bucket
//     pieces names, holds every block of the piece, all of them durable
//     before step 6, beside the partial record and its .blocks file (a
//     second name of the same file), or, if step 6 renamed the file,
//     beside a partial record that names a .blocks file that is gone.
//     Open finishes the completion: it hashes <hex> against the digest
//     and, if it matches, fsyncs the file and its directory (the crash may
//     have come before step 7), then records the piece complete as step 8
//     would have, and removes the .blocks file, if any, as a file without
//     a record. A crash during Open leaves the same state, which the next
//     Open finishes. If <hex> does not hash right (damaged since), or
//     cannot be read or synced, nothing unverified is kept: <hex> is
//     removed, and the partial piece is kept as recorded if its .blocks
//     file is there (its blocks are still checked on every read), or
//     dropped if it is not. Without a partial record (the Writer's steps)
//     nothing was recorded, and Open removes <hex> as it removes any piece
//     file without a record;
//   - after step 8, the piece is complete, and a .blocks file left by a
//     crash before step 9 has no record: Open removes it.
//
// A failure at any step up to 8 records nothing of the Part. A failure at
// step 7 or 8 removes the name <hex>: the partial piece stays as it was
// recorded if step 6 linked the file, and is dropped if it renamed it. A
// failure at step 9 is logged: the piece is complete, and the next Open
// removes the .blocks file.
//
// Several Parts of one piece may be open at once (concurrent ranged
// fetches); a Part skips blocks already recorded, and once the piece is
// complete writes nothing and commits as a no-op. [Part.Abort] forgets the
// Part's blocks; the file goes when no block of it is recorded and no other
// Part is open. A Part open at Close fails to commit.
//
// [Store.ReadAt] serves a range of a partial piece when every block that
// covers it is recorded, reading and checking the blocks exactly as for a
// complete piece (see "Verification"); otherwise it fails at once with an
// error wrapping fs.ErrNotExist. [Store.Present] answers the same question
// without reading. A block that fails its check is dropped from the record
// (the piece's other blocks are good), a missing or short partial file drops
// the partial piece, and the read fails as for a complete piece. A partial
// piece's blocks are served only to readers that name the same size and the
// same block table ([ErrOtherTable]): a block table is tied to a piece only
// by the manifest that names both, and another origin's manifest may name
// another one. [Store.Has] and [Store.Load] see complete pieces only.
//
// Open reconciles bucket partial with the .blocks files. First it finishes
// the completions a crash interrupted (above): a well-formed partial
// record beside a file <hex> of the record's size that bucket pieces does
// not record, whether its .blocks file is there or not, is hashed and, if
// it matches, made durable and recorded complete; one that does not match
// is logged (warning naming the piece) and removed. Then a record that is
// malformed, whose digest is complete, or whose file is missing or of
// another size is dropped, and every .blocks file without a record is
// removed. The counts are logged as for pieces (kind "partial"), with the
// completions finished ("completions_finished"). Only the pieces whose
// completion a crash caught are hashed, ~2.5 ms for 4 MiB each. A piece so
// finished counts its full size under the disk bound, which Open applies
// after the reconcile (see "Disk bound").
//
// Each partial piece costs, in memory, an index entry as a complete piece
// does and, for n blocks, n/8 bytes of bitmap and 4n bytes of checksums:
// 264 bytes for a 4 MiB piece, all loaded at Open. Partial pieces count
// against the disk bound, which so bounds their number.
//
// # Verification
//
// No byte read from disk is served unchecked. The caller verifies a piece's
// bytes against its sha256 before they reach the store (the fetcher hashes
// bytes as they arrive). As a [Writer] (or a [Part]) takes them it
// computes the CRC-32C of each block of [meta.DefaultBlockSize] (64 KiB;
// the last one may be short) from those bytes, not from the disk, and the
// commit records the checksums with the piece (see "Crash safety").
//
// Every read checks what it reads, every time: [Store.ReadAt] reads the
// blocks that cover its range whole (a 4 KiB read inside a block reads that
// 64 KiB block) and checks each against its checksum before copying any of
// it out; [Store.Load] checks every block of the piece. So a byte flipped
// in a piece file (bit rot, a user's mistake, a stray write), whether
// before the process started or after it last read the piece, is never
// served: the read that meets the damaged block drops the piece (record,
// access time, checksums and file), a warning is logged, and the read fails
// with an error wrapping [ErrCorrupt] and [io/fs.ErrNotExist], so the
// caller fetches it again. A read checks only the blocks it reads: the
// other blocks of a damaged piece are still served, rightly, until a read
// meets the damaged one. [Store.Verify] hashes whole pieces against their
// digests, on demand.
//
// A CRC-32C catches accidents, not an adversary: whoever can write the
// cache directory can rewrite the checksums too. It misses a damaged block
// with a chance of 2^-32; it never misses a burst of up to 32 flipped bits.
//
// The cost is paid on every read that reaches the store. A read of part of
// a block reads and checks all of it: 64 KiB of pread (from the page
// cache, typically) and of CRC (hardware-accelerated, ~10 GB/s). A warm
// 4 KiB random read takes ~10 µs here, against ~1.6 µs when a piece was
// hashed once per process and then trusted (about 6 times; a 128 KiB read
// about 2.3 times; BenchmarkReadAt, medians of 5 runs). Blocks that lie
// wholly inside the range are read straight into the caller's buffer, in
// one pread; partial ones go through a pool of block buffers, so reads do
// not allocate. If a check fails, the caller's buffer is cleared, so it
// holds no byte of the damaged piece. Load checks by CRC too rather than by sha256: for a 4 MiB
// piece the checks take ~0.2 ms against ~2.5 ms (BenchmarkCheck), and a
// warm Load ~2.3 ms against ~4.4 ms (BenchmarkLoad).
//
// The checksums of a piece are kept in memory with its record from its
// first read in a process (one bbolt read, microseconds) or its commit,
// until it is dropped or evicted: 4 bytes per 64 KiB, 64 KB per GiB of the
// pieces read, and so never more than that per GiB of the cache. They are
// loaded lazily, not at Open, so that Open's time and memory do not grow
// with checksums of pieces the process never reads.
//
// A piece trusted on a block table was checked block by block against that
// table, not against its digest. The table comes from a manifest, so a
// manifest that pairs a piece's digest with a table describing other bytes
// could otherwise put those bytes in the cache under the digest, for every
// later manifest that names it. So a reader is served such a piece as it
// is only if it trusts the same table (meta.Piece.Blocks), which vouches
// for exactly those bytes, as the partial piece's blocks were served to it
// before the piece was complete. Any other reader's first read (another
// table, or none: a version 1 manifest) hashes the whole file against the
// digest first, as for a piece without checksums below: if it matches, the
// checksums are recorded again without the table and the piece is trusted
// by everyone; if not, the piece is dropped and the read fails with an
// error wrapping [ErrCorrupt] and [io/fs.ErrNotExist]. [Store.Verify]
// hashes it too, and drops it or clears its table the same way. A version
// of piecefs that knew no tables finds a checksum value of the wrong
// length, prunes it at Open, and so hashes the piece whole before serving
// it.
//
// A piece an older version recorded has no checksums; it is not dropped.
// Its first read in a process hashes the whole file against its digest,
// as that version did, computing the checksums of its blocks in the same
// pass (a damaged file is dropped as above). The checksums are then kept in
// memory and queued for bucket blocks, where they are written with the
// access times (every 30 seconds and at Close; see "Disk bound"), so that
// the read does not wait for a database fsync; a crash before that costs
// the next process one more hash of the piece. Concurrent first reads of a
// piece share one load or hash. Open logs how many pieces lack checksums,
// and prunes a checksum value of the wrong length, whose piece is then
// treated the same way. Load and Verify upgrade such a piece too; Verify
// also rewrites the checksums of a good piece that do not match it (a
// garbled value, which reads would take for damage).
//
// # Disk bound
//
// With [Options.MaxBytes] set, the complete pieces and the recorded blocks
// of the partial ones take at most that many bytes ([Store.Bytes]);
// manifests do not count and are never evicted. A partial piece counts the
// bytes of its recorded blocks, which is what its sparse file takes but for
// blocks written and not recorded (as by an aborted Part); it is evicted
// like a complete piece, least recently used first. A
// commit makes room before it records its piece, evicting the least
// recently used pieces, so the bound holds whenever no commit is in
// progress. It may be exceeded by one piece only: by a piece larger than
// the bound, or when the pieces that would have to go are being read. A
// piece being read (pinned by [Store.ReadAt], [Store.Load] or
// [Store.Verify] while it runs), being committed, or with a Part open is
// never evicted, nor is a piece an owner pins (see "Pins"); a
// commit that would need to evict pinned pieces to stay within one piece
// of the bound fails with an error wrapping [ErrFull]. A bound lowered
// since the last run is applied at Open. Files being written (.part) and
// blocks written but not yet committed are not counted (the fetcher bounds
// them: package fetch, "Persisting"), and an evicted
// piece whose file cannot be removed has lost its record already, so the
// next Open removes the file.
//
// Reads order the pieces in memory only. The order is written to bucket
// atime every 30 seconds and at Close, in one transaction, and read back at
// Open, so it survives restarts; a crash loses at most the last 30 seconds
// of it, which costs a slightly worse choice of victims and nothing else.
//
// # Pins
//
// [Store.Pin] records that an owner (an opaque string: piecefs uses the
// origin, a NUL byte and a path in its tree) keeps some pieces out of
// eviction, complete or partial, held or not yet: a pin is an intent,
// which the reconcile at Open keeps whatever the directory holds.
// [Store.Unpin] removes owners by name, and with each name the owners
// below it (name + "/" + anything). A digest pinned by several owners
// counts once, at the size its first pin gave.
//
// Pinned bytes count against [Options.MaxBytes], held or not: a Pin that
// would leave more pinned than the bound fails with an error wrapping
// [ErrPinBudget] and records nothing ([Store.PinCheck] asks first). So
// pinned pieces always fit, and the commits of other pieces evict other
// pieces, never a pinned one. A bound lowered since the pins were made
// can be smaller than they are: Open logs a warning and evicts what is
// not pinned, and every commit fails with ErrFull while the pinned
// pieces held take the whole bound; every Pin fails until the pins fit
// again.
//
// Pin and Unpin write one transaction each (one record an owner; fsync
// on) before they return, and only then change what eviction sees. They
// touch no piece file, so a crash can leave only the pins before or after
// the call. A record that does not decode (see "Layout") is dropped at
// Open with a warning naming its owner, whose pieces are then evictable
// until pinned again; a database moved aside as damaged loses its pins
// with its records.
//
// Pins are kept in memory too, loaded at Open: per owner 40 bytes a
// piece and the owner's name, per distinct pinned digest a map entry of
// about 100 bytes. A pinned piece that eviction passes moves to the head
// of the order, so that a large pin is not walked by every commit.
// [Store.Pinned], [Store.Cached] and [Store.Stats] answer from memory,
// without I/O.
//
// # Damage
//
// A damaged cache directory is repaired at Open or at the first read that
// meets the damage, with these outcomes. "At Open" means an Open that
// scans, as every Open after a crash does; after a clean close the damage
// done since is met by reads instead (see "Clean close"), and the rows that
// say "or by the first read" hold for every file:
//
//	damage                                   outcome
//	.part file left by a crash               removed at Open
//	piece file truncated or extended         dropped at Open (size check), or by the first read that meets it
//	piece file deleted                       dropped at Open, or by the first read that misses it
//	byte flipped in a piece file             dropped by the first read of its block (ReadAt or Load, at any time), or by Verify
//	a checksum record in bucket blocks       of the wrong length: pruned at Open, the piece hashed whole by its next read;
//	  garbled                                with a wrong value: the piece dropped by the first read of that block, or fixed by Verify
//	byte flipped in a manifest file          dropped by LoadManifest or VerifyManifests
//	piece file without a record              removed at Open, unless a partial record of its digest has its size (next row)
//	piece file without a record, of the      hashed at Open: recorded complete if it matches (a crash between a completion's
//	  size a partial record records            link or rename and its transaction); else removed, the partial piece kept if its
//	                                           .blocks file is there (its blocks checked on every read), else dropped
//	.blocks file without a partial record    removed at Open (a crash before a Part's first record,
//	                                           or after a completion's transaction)
//	.blocks file deleted, truncated or       its record dropped at Open (size check), or the partial
//	  extended                                 piece dropped by the first read that meets it
//	byte flipped in a .blocks file           that block dropped from the record by the first read of it
//	partial record malformed, or for a       dropped at Open, with its .blocks file
//	  digest recorded complete
//	recorded blocks that do not make the     the partial piece dropped by the commit that would complete
//	  piece (a wrong block table)              it (hashed against the digest); that commit fails
//	pin record malformed or garbled          dropped at Open (warning naming the owner); its pieces are evictable again
//	database deleted                         empty database created; piece files removed (warning with the count)
//	database corrupt (bbolt fails to open    moved aside to piecefs.db.corrupt-<unix time> (error logged), empty
//	  it, tx.Check fails, or reading panics)   database created, piece files removed; fetched again
//	database truncated to zero bytes         as deleted: bbolt starts it afresh
//	directory not writable, or not a dir     Open fails naming the directory and what to do; nothing stays open
//	disk full while writing a piece          .part removed, nothing recorded; the error wraps syscall.ENOSPC
//	another process uses the directory       Open fails with ErrInUse after Options.LockTimeout
//
// A read that drops a piece fails with an error wrapping fs.ErrNotExist
// (and ErrCorrupt if the bytes were wrong), so the caller fetches it again;
// a warning naming the piece is logged.
//
// A flipped byte that leaves the database's structure valid (inside a key
// or a value) is not damage tx.Check can see; it garbles one record, which
// the reconcile then treats like any record that does not match its file,
// or one checksum, which fails the reads of its block.
//
// Reading a database nobody has checked can panic, or fault on a page past
// the end of a truncated file; Open reads it with faults turned into
// panics and recovers from both. If bbolt panics inside its own Open, the
// file it opened stays open until the process ends (the database is moved
// aside, so its lock is not in the way).
//
// # Exclusive use
//
// One process at a time uses a cache directory. Open takes an exclusive
// flock on DIR/piecefs.lock before it reads the database, and holds it
// until Close (or the process's end, however it ends); a second Open fails
// after [Options.LockTimeout] with an error wrapping [ErrInUse] rather than
// waiting forever. The lock file is never renamed or removed: a lock on the
// database file itself would not do, since a damaged database is moved
// aside and replaced, and a process that waited on the old file would then
// own the directory beside the one that replaced it.
//
// # Open files
//
// Reads use plain pread on files kept open in a bounded cache
// ([Options.OpenFiles]). A file evicted while a read is using it is closed
// when that read is done, so eviction never breaks a read in progress.
//
// # Concurrency
//
// All methods of [Store] are safe for concurrent use, Close included: an
// operation that began before Close finishes first, and one called after
// fails with an error wrapping [ErrClosed] (Has reports false) instead of
// touching closed files or a closed database. A [Writer] belongs to one
// goroutine. Only one Writer per piece can be open at a time; a second
// Create for the same piece fails with an error wrapping [ErrBusy]. A
// [Part] belongs to one goroutine too, but any number of Parts of a piece
// may be open, beside a Writer of it; whichever completes the piece first
// wins, and the others' commits discard their blocks.
package store
