// Package faults tests the read path of piecefs (memory → disk → network)
// against an origin that misbehaves, in process and without FUSE. The
// package has no code outside its tests.
//
// # Wiring
//
// Every test wires the tiers as cmd/piecefs does: store.Open on a fresh
// cache directory, fetch.New with the store as its Sink, cache.New, and
// piece.New over a manifest. Reads go through piece.Reader.ReadAt with a
// context, as the FUSE layer's reads do.
//
// # The origin
//
// A published directory (publish.Build into origin.OpenDir) is served on
// 127.0.0.1 by origin.Handler, behind a wrapper that can give the requests
// for one piece a fault instead: refusing, stalling, dripping, resetting,
// truncating, over-sending, corrupting, lying about the length, answering
// with an error status or a redirect loop, for every request or only the
// first few.
//
// # What every fault must leave true
//
// A read returns exactly the file's bytes or an error, never a wrong byte,
// and returns within the fetch Timeout plus slack (a hang detector, not a
// speed requirement). Afterwards no .part file is left, a piece is recorded
// complete only if it was read correctly, every piece file hashes to its
// name, the piece reads correctly once the fault is gone, and the process's
// goroutines and file descriptors are back to where they were.
package faults
