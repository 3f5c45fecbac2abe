// Package harness starts and stops the local pieces of a piecefs setup:
// child processes, an nginx origin, and `piecefs mount` children with their
// mountpoints. The e2e tests, the benchmark (test/bench) and `piecefs demo`
// share it, so that all three start, watch and end their children the same
// way. It imports nothing of piecefs and nothing of package testing: its
// functions return errors wrapped with what failed, and each caller decides
// whether that fails a test, a benchmark or a command.
//
// # What it starts
//
// Start and Run start a program as a child process, in a process group of
// its own (so that ^C at a terminal reaches only the parent, which then
// stops its children in order), with LC_ALL=C (so that messages read the
// same everywhere), and with SIGTERM as its parent-death signal, so that a
// child does not outlive a parent that dies without cleaning up. Linux sends
// that signal when the thread that started the child exits; Go's threads
// live as long as the process unless a goroutine locked to one exits, so no
// caller may start children from a goroutine that calls
// runtime.LockOSThread.
//
// StartNginx runs one nginx process, without a master or a daemon, with a
// generated configuration that keeps every file nginx writes inside one
// directory. StartMount runs `piecefs mount` and waits for its ready line. StartSquid runs
// Debian's squid in the foreground, with its configuration, cache and logs
// in one directory; StartMoto runs moto_server, an S3-compatible server,
// on a loopback port, set up by a boto3 script the caller names.
//
// # How everything stops
//
// Every Process is reaped by a goroutine of its own as soon as it exits;
// Done is closed then, and Wait returns its exit status. Stop asks a child to
// exit with SIGTERM, to its PID only, and after a grace period (or when the
// caller's context ends) kills its whole process group with SIGKILL and
// waits for it to be reaped. Kill does the killing at once. When a child
// exits, whatever it left running in its group is killed then, so nothing
// a child started outlives it. A group is signalled only while its leader
// has not been reaped, so a reused process ID is never signalled. Mount.Stop stops the child and then removes
// whatever is still mounted on its mountpoint, lazily as a last resort.
// Helpers that fail half-way (StartNginx, StartMount) stop what they
// started before they return the error.
//
// The harness keeps what a child prints: its stdout as lines (unless the
// caller takes stdout itself) and the last StderrKept bytes of its stderr,
// which the errors it returns quote.
//
// # Network
//
// Everything the harness starts or configures listens on 127.0.0.1, or on
// an address of a network namespace it made itself, never on an address
// of the machine's own network: FreePorts picks loopback ports, nginx and
// squid listen on 127.0.0.1 unless given a Host, and WaitHTTP is meant for
// loopback URLs. NewNetwork makes namespaces joined by a bridge in a
// namespace of its own, on 10.213.0.0/24 with no route out, so nothing
// there can reach another address either; a Host runs programs in its
// network namespace only (nsenter --net, not ip netns exec, which would
// also give them a mount namespace of their own and hide their FUSE
// mounts), and Close deletes every namespace (a later NewNetwork sweeps
// those of a process that died).
//
// # The mount table
//
// IsMounted, Mountpoints, MountsUnder, WaitMounted and WaitUnmounted read
// /proc/self/mountinfo, never a mountpoint itself, so a FUSE mount whose
// server is dead cannot hang them.
package harness
