// Package e2e holds piecefs's end-to-end tests. They build the real piecefs
// binary once, publish a generated tree with it, mount that tree with real
// FUSE from an origin on 127.0.0.1, and read the mount with ordinary tools
// (sha256sum, stat, readlink, getfattr, dd, head, cat) run as subprocesses.
// The package has no code outside its tests.
//
// # Requirements
//
// The tests run as root (they chown, mknod and mount), need /dev/fuse,
// coreutils, getfattr (Debian's attr package), curl and nginx. A missing
// requirement skips the tests that need it, except with CI=true, where it
// fails them: CI must not pass by testing nothing.
//
// # The shared tree
//
// TestMain generates one deterministic tree (a 300 MiB file, files around
// the 1 MiB piece size, a thousand small files, links, special files and
// modes, xattrs, non-ASCII names) and publishes it once; every test mounts
// that publication with a cache directory of its own.
//
// # Processes
//
// Every subprocess is started by internal/harness, in a process group of
// its own that gets SIGTERM if the test binary dies, and is signalled and
// reaped by the test that owns it. A cleanup kills what is still running
// when its test ends; a mount's cleanup stops it and unmounts the
// mountpoint (lazily as a last resort), so a failing test leaves no FUSE
// mount behind.
package e2e
