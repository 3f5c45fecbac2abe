package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestShutdownDuringFetch signals a mount once while three readers fetch
// through it. The mountpoint must leave /proc/mounts (detached lazily, as
// files are open), the readers must still get all their bytes, right, and
// the process must then exit 0 leaving a clean cache.
func TestShutdownDuringFetch(t *testing.T) {
	signals := map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT}
	origin := newCountingOrigin(t, fx.out)
	src := sigBigSource(t)
	for name, sig := range signals {
		t.Run(name, func(t *testing.T) {
			cache := t.TempDir()
			m := startMount(t, origin.URL(), cache)
			const n = 64 << 20
			var readers []*crashReader
			for _, off := range []int64{0, 100 << 20, 200 << 20} {
				readers = append(readers, crashStartReader(t, sigDD(src, m.dir, off, n, toolTimeout)))
			}
			waitFor(t, time.Minute, "every reader's first bytes", func() bool {
				for _, r := range readers {
					if r.cmp.received() == 0 {
						return false
					}
				}
				return true
			})
			m.signal(sig)
			took, gone := sigWaitGone(t, m.dir, stopTimeout)
			if !gone {
				t.Errorf("%s still in /proc/mounts %v after %s", m.dir, took, name)
			}
			t.Logf("mountpoint gone %v after %s, with %d of %d readers still reading", took.Round(time.Millisecond), name, sigRunning(readers), len(readers))
			for _, r := range readers {
				r.expectComplete(t, n)
			}
			m.expectCleanExit(t, name)
			sigCheckCache(t, cache)
		})
	}
}

func sigRunning(readers []*crashReader) int {
	n := 0
	for _, r := range readers {
		if !r.exited() {
			n++
		}
	}
	return n
}

// TestShutdownStalledFetch sends SIGTERM while a reader is blocked on a
// piece the origin stalls. The mountpoint must leave /proc/mounts while the
// reader is still blocked (a lazy detach), the reader must get EIO within
// the fetch timeout and some slack, and the process must then exit 0.
func TestShutdownStalledFetch(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	origin.StallAfter(0)
	cache := t.TempDir()
	m := startMount(t, origin.URL(), cache) // --fetch-timeout 3s
	limit := fetchTimeout + 30*time.Second
	r := crashStartReader(t, sigDD(sigBigSource(t), m.dir, 120<<20, 64<<10, limit))
	waitFor(t, 30*time.Second, "a stalled piece GET", func() bool { return origin.Stalled() > 0 })

	m.signal(syscall.SIGTERM)
	took, gone := sigWaitGone(t, m.dir, stopTimeout)
	switch {
	case !gone:
		t.Errorf("%s still in /proc/mounts %v after SIGTERM", m.dir, took)
	case r.exited():
		t.Errorf("%s left /proc/mounts only %v after SIGTERM, once the blocked reader had ended (after %v): not detached lazily",
			m.dir, took.Round(time.Millisecond), r.elapsed().Round(time.Millisecond))
	default:
		t.Logf("mountpoint gone %v after SIGTERM, the reader still blocked", took.Round(time.Millisecond))
	}
	r.expectFailure(t, fetchTimeout+20*time.Second, eioText)
	t.Logf("the blocked reader failed after %v (--fetch-timeout %v): %s", r.elapsed().Round(time.Millisecond), fetchTimeout, bytes.TrimSpace(r.Stderr()))
	m.expectCleanExit(t, "SIGTERM")
	sigCheckCache(t, cache)
}

// TestShutdownLazyUnmount runs umount -l while a reader has read part of
// a file and goes on reading: the mountpoint leaves /proc/mounts at once,
// the process keeps serving the open file, the reader gets every byte
// right, and the process exits 0 once the reader has closed the file.
func TestShutdownLazyUnmount(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	cache := t.TempDir()
	m := startMount(t, origin.URL(), cache)
	// 1 MiB, then a line on stdin, then 16 MiB more, all from one open file.
	const script = `exec 3<"$1" && dd bs=64K count=16 iflag=fullblock status=none <&3 && read line && exec dd bs=64K count=256 iflag=fullblock status=none <&3`
	const first, total = 1 << 20, 17 << 20
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.Close() })
	r := crashStartReader(t, crashRead{
		what: "sh: dd 1MiB, wait, dd 16MiB more of " + fx.tree.big, src: sigBigSource(t),
		limit: toolTimeout, stdin: pr, argv: []string{"sh", "-c", script, "sh", filepath.Join(m.dir, fx.tree.big)},
	})
	pr.Close() // the reader has its own copy
	waitFor(t, time.Minute, "the reader's first MiB", func() bool { return r.cmp.received() >= first || r.exited() })

	mustRun(t, "", "umount", "-l", m.dir)
	if isMounted(t, m.dir) {
		t.Errorf("%s is still in /proc/mounts after umount -l", m.dir)
	}
	if m.exited() {
		t.Errorf("piecefs mount exited (%v) after umount -l while a file was open on it", m.Err())
	}
	if _, err := pw.WriteString("go on\n"); err != nil {
		t.Errorf("tell the reader to go on: %v", err)
	}
	pw.Close()
	r.expectComplete(t, total)
	m.expectCleanExit(t, "umount -l and the reader's close")
	sigCheckCache(t, cache)
}

// TestShutdownSecondSignal sends SIGTERM twice while a reader is blocked on
// a stalled piece with a long --fetch-timeout. The first signal detaches
// the mount and lets the fetch go on; the second must end the reader's
// wait with EIO or ENOTCONN within seconds, not the minute of the fetch
// timeout, and make the process exit 3 with a clean cache.
func TestShutdownSecondSignal(t *testing.T) {
	const longTimeout = 60 * time.Second
	origin := newCountingOrigin(t, fx.out)
	origin.StallAfter(0)
	cache := t.TempDir()
	m := startMount(t, origin.URL(), cache, "--fetch-timeout", longTimeout.String())
	r := crashStartReader(t, sigDD(sigBigSource(t), m.dir, 120<<20, 64<<10, longTimeout+time.Minute))
	waitFor(t, 30*time.Second, "a stalled piece GET", func() bool { return origin.Stalled() > 0 })

	m.signal(syscall.SIGTERM)
	if took, gone := sigWaitGone(t, m.dir, stopTimeout); !gone {
		t.Errorf("%s still in /proc/mounts %v after the first SIGTERM", m.dir, took)
	}
	if r.exited() {
		t.Errorf("the blocked reader ended (%v) after the first SIGTERM, within the fetch timeout: the first signal must let fetches go on\nstderr: %s", r.Err(), r.Stderr())
	}
	if m.exited() {
		t.Fatalf("piecefs mount exited (%v) after the first SIGTERM while a file was open on it\nstderr: %s", m.Err(), m.stderrTail())
	}

	m.signal(syscall.SIGTERM)
	second := time.Now()
	const bound = 20 * time.Second // far below the fetch timeout, generous for a loaded machine
	if !r.wait(bound) {
		t.Errorf("the blocked reader still waits %v after the second SIGTERM (--fetch-timeout %v)", bound, longTimeout)
		r.kill()
	} else {
		r.expectFailure(t, longTimeout+time.Minute, eioText, sigENOTCONN)
		t.Logf("the reader failed %v after the second SIGTERM: %s", r.ExitTime().Sub(second).Round(time.Millisecond), bytes.TrimSpace(r.Stderr()))
	}
	sigExpectExit(t, m, sigExitForced, "a second SIGTERM")
	sigCheckCache(t, cache)
}
