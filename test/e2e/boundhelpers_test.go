package e2e

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// boundFDs returns the number of open file descriptors of process pid.
func boundFDs(t *testing.T, pid int) int {
	t.Helper()
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("count the open files of process %d: %v", pid, err)
	}
	return len(entries)
}

// boundProcStatus returns a "kB" field of /proc/PID/status (VmRSS, VmHWM)
// in bytes.
func boundProcStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, value, ok := strings.Cut(s.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/status %s: %w", pid, field, err)
		}
		return kb << 10, nil
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// boundDirBytes returns the bytes the regular files under dir take, .part
// files included, .blocks files by what is allocated to them (see
// boundFileBytes), and a file with two names once (see boundSeen). It tolerates files vanishing during the walk, so it can
// poll a live mount's cache.
func boundDirBytes(dir string) int64 {
	var total int64
	seen := map[uint64]bool{}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() && !boundSeen(seen, fi) {
			total += boundFileBytes(p, fi)
		}
		return nil
	})
	return total
}

// boundSampler polls a measurement in the background and keeps the
// largest value seen. It stops at Stop or when the test ends.
type boundSampler struct {
	max, last atomic.Int64
	samples   atomic.Int64
	stop      chan struct{}
	done      chan struct{}
	once      sync.Once
}

// startBoundSampler calls measure every interval until stopped; a
// measurement that fails (ok false) is skipped.
func startBoundSampler(t *testing.T, every time.Duration, measure func() (v int64, ok bool)) *boundSampler {
	s := &boundSampler{stop: make(chan struct{}), done: make(chan struct{})}
	s.max.Store(-1)
	go s.run(every, measure)
	t.Cleanup(func() { s.Stop() })
	return s
}

func (s *boundSampler) run(every time.Duration, measure func() (int64, bool)) {
	defer close(s.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if v, ok := measure(); ok {
			s.observe(v)
		}
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
	}
}

func (s *boundSampler) observe(v int64) {
	s.samples.Add(1)
	s.last.Store(v)
	for {
		m := s.max.Load()
		if v <= m || s.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// Max is the largest value seen so far; -1 before the first sample.
func (s *boundSampler) Max() int64 { return s.max.Load() }

// Stop ends the sampling and returns the largest value seen.
func (s *boundSampler) Stop() int64 {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return s.max.Load()
}

// boundDropCache asks the kernel to forget its cached pages of [off, +n)
// of f (n 0: to the end), so that the next read of them reaches the mount
// rather than the page cache.
func boundDropCache(t *testing.T, f *os.File, off, n int64) {
	t.Helper()
	if err := unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED); err != nil {
		t.Fatalf("fadvise %s DONTNEED: %v", f.Name(), err)
	}
}

// boundWatchdog kills the mount if the test is still running after limit,
// so a read blocked on it returns (with an error) and the test fails
// instead of hanging. The returned function disarms it and reports
// whether it fired.
func boundWatchdog(t *testing.T, m *mount, limit time.Duration) (disarm func() bool) {
	var fired atomic.Bool
	timer := time.AfterFunc(limit, func() {
		fired.Store(true)
		m.signal(syscall.SIGKILL)
	})
	t.Cleanup(func() { timer.Stop() })
	return func() bool {
		timer.Stop()
		if fired.Load() {
			t.Errorf("hang detector: the test was still running after %v; the mount was killed", limit)
		}
		return fired.Load()
	}
}

// boundMiB formats a byte count for logs.
func boundMiB(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
