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
// When reading is sequential and there is a memory tier, a disk hit loads
// the whole piece into it once (the store verifies it as it loads), so the
// reads that follow, which a sequential reader makes many of per piece, are
// memory hits. A random read, or any read without a memory tier, reads only
// the bytes it needs, so that a 4 KiB read does not cost a 4 MiB one.
//
// # Damage
//
// A disk piece that turns out missing or unreadable is not fatal: the read
// falls through to the network, which fetches and stores the piece again.
package piece
