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
// A disk hit reads only the bytes the request needs, straight from the
// piece file, and does not promote the piece to memory: the kernel's page
// cache already keeps recently read disk pieces, so copying whole pieces
// into the memory tier on every 4 KiB read would cost more than it saves.
//
// # Damage
//
// A disk piece that turns out missing or unreadable is not fatal: the read
// falls through to the network, which fetches and stores the piece again.
package piece
