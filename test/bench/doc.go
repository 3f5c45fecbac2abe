// Command bench measures piecefs through its command-line binary, beside the
// baselines the issue names and, when installed, rclone and httpfs2.
//
//	go run ./test/bench            # full: a 2 GiB file and 20,000 small files, 3 runs each
//	go run ./test/bench -short     # tiny: every code path in well under a minute
//	go run ./test/bench -json bench.json -runs 5
//
// It needs root (it drops the page cache and mounts) and /dev/fuse. It
// installs nothing: without nginx the origin is `piecefs serve`, without fio
// random reads use a Go pread loop, without rclone or httpfs2 its column
// stays empty; the report says which. With -require-tools (which go test
// passes when CI=true) a missing tool, or a peer that fails, fails the run.
//
// # What runs
//
// The binary is built from the module root into a temporary directory,
// which also holds the generated data, the publish output, every cache
// directory and every mountpoint. The data are published with default
// settings and served from 127.0.0.1. Each measurement starts a fresh
// `piecefs mount` (a new process, so the memory tier is empty), emptying its
// cache directory first when the measurement is cold, drops the page cache,
// and runs N times; the table shows medians. Baselines run in the same
// process, on the same machine, in the same run, so that ratios stay
// comparable across machines.
//
// # Origin baselines
//
// The origin's own speed is measured with Go's HTTP client over keep-alive
// connections opened beforehand: one-byte range GETs for the first-byte
// rows, and 4 KiB range GETs from 1 and 16 connections for the cold
// random-read rows. How many bytes a cold read costs is counted by a TCP
// relay in front of the origin (relay.go), through which only the mounts
// of the bytes-fetched rows go.
//
// # The FUSE ceiling
//
// A memory-backed go-fuse file and a copy of the small files' tree, mounted
// by a child process (this binary re-executed with a hidden flag, so that
// no FUSE server shares a process with a reader), show what any FUSE file
// system can reach here with the same mount options as piecefs: a warm and
// a hot sequential read, warm random reads, and the tar and find walks,
// each beside piecefs's.
//
// # The disk's durable write speed
//
// A cold read caches every byte it reads, durably, so over a long read it
// cannot outrun the file system that holds the cache: the row beside the
// cold read writes up to 1 GiB in files of 4 MiB, each written, fsynced and
// closed, as the store makes pieces durable, on the caches' file system.
//
// The warm random read has a row of that kind too: every 4 KiB read that
// reaches the store reads and checks the whole 64 KiB block it lies in, so
// the source file read at random in 64 KiB reads, cold, shows what the disk
// gives such reads.
//
// # The profiled cold read
//
// A cold sequential read keeps the machine's cores nearly all busy, so its
// limit is its CPU cost per byte. After the measured cold reads, one more
// cold read runs on a mount started with --debug-addr while the benchmark
// fetches /debug/pprof/profile for about 90% of the read's expected length
// (profile.go). Each sample goes to the bucket of the innermost frame of
// its stack that names a cost (sha256, crc32, disk writes and reads,
// network reads, FUSE, memory copies, allocation and GC, the scheduler),
// and the rows beside the cold read give the mount's cores beside the
// machine's, its core-ms per MiB served, the shares, and crypto/sha256's
// speed on one core of this machine measured in the same run. The
// profiler never runs during a measured read.
//
// # Cleanup
//
// Every child process (origins, mounts) runs in its own process group, so
// that ^C reaches only the benchmark, which then stops its children in
// order, unmounts what is left and removes the temporary directory (kept
// with -keep). A second ^C, or a first one that is not handled within a
// grace period, cleans up at once and exits.
package main
