// Package piece chains the three tiers a read goes through: memory, then
// complete pieces on disk, then the network.
//
// # Order
//
// For each piece a read touches, [Reader] asks the memory tier, then the
// disk tier, then the network tier, and stops at the first that has it. A
// piece fetched from the network is put in memory on the way back; the
// fetcher has already verified it and made it durable on disk.
//
// # Disk reads
//
// With a memory tier, a disk hit loads the whole piece into it once (the
// store verifies it as it loads), so the reads that follow, which a
// sequential reader makes many of per piece, are memory hits. Without one,
// a disk hit reads only the bytes the request needs.
//
// # Damage
//
// A disk piece that turns out missing or unreadable is not fatal: the read
// falls through to the network, which fetches and stores the piece again.
package piece
