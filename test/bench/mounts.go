package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

const (
	// readyTimeout bounds how long a mount may take to be ready.
	readyTimeout = 2 * time.Minute
	// stopTimeout bounds how long a mount may take to exit after SIGTERM.
	stopTimeout = 30 * time.Second
)

// system is a file system under test that can be mounted afresh.
type system interface {
	name() string
	// start mounts it in a new process, emptying its cache first when
	// cold, with the page cache dropped just before the process starts.
	start(ctx context.Context, cold bool) (*mount, error)
}

// mount is one running mount process.
type mount struct {
	*harness.Mount      // Ready: when the mount said (or was seen to be) ready
	strict         bool // a non-zero exit after SIGTERM is an error
	once           sync.Once
	err            error // stop's result
}

func (m *mount) path(rel string) string { return filepath.Join(m.Dir, rel) }

// stop asks the process to exit, waits, and makes sure nothing stays
// mounted. It is idempotent, so the cleanup may call it again.
func (m *mount) stop() error {
	m.once.Do(func() {
		m.err = m.Process.Stop(context.Background(), stopTimeout)
		if !m.strict {
			m.err = nil // rclone's exit status after SIGTERM varies by version
		}
		if err := harness.Unmount(m.Dir); err != nil && m.err == nil {
			m.err = err
		}
		if m.err != nil {
			m.err = fmt.Errorf("stop %s mount: %w\nstderr: %s", m.Name(), m.err, harness.Tail(m.Stderr(), 8<<10))
		}
	})
	return m.err
}

// piecefsMount mounts a tag of the origin with the real `piecefs mount`.
type piecefsMount struct {
	b      *bench
	url    string // the origin, or a relay in front of it
	tag    string
	cache  string
	mnt    string
	memory int64 // --memory-cache; 0 means the configured one
	// debugAddr, when set, is the mount's --debug-addr (Go's profiling
	// endpoints), for the profiled cold read only.
	debugAddr string
}

func (s *piecefsMount) name() string { return "piecefs" }

func (s *piecefsMount) start(ctx context.Context, cold bool) (*mount, error) {
	if err := prepare(s.cache, s.mnt, cold); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	memory := s.b.cfg.memoryCache
	if s.memory > 0 {
		memory = s.memory
	}
	args := []string{"mount", "--cache", s.cache, "--memory-cache", strconv.FormatInt(memory, 10), "--tag", s.tag, "--log-level", "warn"}
	if s.debugAddr != "" {
		args = append(args, "--debug-addr", s.debugAddr)
	}
	hm, err := harness.StartMount(ctx, harness.Command{Path: s.b.bin, Args: append(args, s.url, s.mnt)}, s.mnt)
	if err != nil {
		return nil, fmt.Errorf("piecefs mount: %w", err)
	}
	return s.b.track(&mount{Mount: hm, strict: true}), nil
}

// rcloneMount mounts the source tree with `rclone mount` over its http
// backend, caching whole files on disk.
type rcloneMount struct {
	b     *bench
	cache string
	mnt   string
}

func (s *rcloneMount) name() string { return "rclone" }

func (s *rcloneMount) start(ctx context.Context, cold bool) (*mount, error) {
	if err := prepare(s.cache, s.mnt, cold); err != nil {
		return nil, err
	}
	return s.b.startSilent(ctx, s.mnt, s.b.tools.rclone, "mount", ":http:", s.mnt, "--config", s.b.rcloneConf,
		"--http-url", s.b.origin.srcURL+"/", "--read-only", "--vfs-cache-mode", "full",
		"--cache-dir", s.cache, "--log-level", "ERROR")
}

// startSilent starts a FUSE server that prints nothing when it is ready and
// waits for its mountpoint to appear in the mount table.
func (b *bench) startSilent(ctx context.Context, mnt, name string, args ...string) (*mount, error) {
	p, err := harness.Start(harness.Command{Path: name, Args: args})
	if err != nil {
		return nil, err
	}
	m := b.track(&mount{Mount: &harness.Mount{Process: p, Dir: mnt}})
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if m.Ready, err = harness.WaitMounted(ctx, p, mnt); err != nil {
		_ = m.stop() // the error at hand says more
		return nil, fmt.Errorf("%s: %w", filepath.Base(name), err)
	}
	return m, nil
}

// prepare empties the cache directory (if any) when cold, makes sure the
// mountpoint exists and is free, and drops the page cache.
func prepare(cache, mnt string, cold bool) error {
	if cold && cache != "" {
		if err := os.RemoveAll(cache); err != nil {
			return fmt.Errorf("empty the cache: %w", err)
		}
	}
	if err := harness.Unmount(mnt); err != nil {
		return err
	}
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return err
	}
	return dropCaches()
}
