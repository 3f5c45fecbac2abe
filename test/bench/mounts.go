package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"
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
	dir    string
	proc   *proc
	ready  time.Time // when the mount said (or was seen to be) ready
	strict bool      // a non-zero exit after SIGTERM is an error
	once   sync.Once
	err    error // stop's result
}

func (m *mount) path(rel string) string { return filepath.Join(m.dir, rel) }

// stop asks the process to exit, waits, and makes sure nothing stays
// mounted. It is idempotent, so the cleanup may call it again.
func (m *mount) stop() error {
	m.once.Do(func() {
		m.err = m.proc.stop(stopTimeout)
		if !m.strict {
			m.err = nil // rclone's exit status after SIGTERM varies by version
		}
		if err := unmount(m.dir); err != nil && m.err == nil {
			m.err = err
		}
		if m.err != nil {
			m.err = fmt.Errorf("stop %s mount: %w\nstderr: %s", filepath.Base(m.proc.name), m.err, m.proc.stderr.String())
		}
	})
	return m.err
}

// piecefsMount mounts a tag of the origin with the real `piecefs mount`.
type piecefsMount struct {
	b     *bench
	tag   string
	cache string
	mnt   string
}

func (s *piecefsMount) name() string { return "piecefs" }

// readyLine is the one line `piecefs mount` prints once it serves.
var readyLine = regexp.MustCompile(`^mounted sha256:[0-9a-f]{64} at (.+)$`)

func (s *piecefsMount) start(ctx context.Context, cold bool) (*mount, error) {
	if err := prepare(s.cache, s.mnt, cold); err != nil {
		return nil, err
	}
	p, err := s.b.startChild(s.b.bin, "mount", "--cache", s.cache, "--memory-cache", strconv.FormatInt(s.b.cfg.memoryCache, 10),
		"--tag", s.tag, "--log-level", "warn", s.b.origin.url, s.mnt)
	if err != nil {
		return nil, err
	}
	m := s.b.track(&mount{dir: s.mnt, proc: p, strict: true})
	l, err := p.waitLine(ctx, readyTimeout)
	if err == nil {
		if got := readyLine.FindStringSubmatch(l.text); got == nil || got[1] != s.mnt {
			err = fmt.Errorf("printed %q, want %q", l.text, "mounted sha256:<hex> at "+s.mnt)
		}
	}
	if err != nil {
		_ = m.stop() // the error at hand says more
		return nil, fmt.Errorf("piecefs mount: %w", err)
	}
	m.ready = l.at
	return m, nil
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
	p, err := s.b.startChild(s.b.tools.rclone, "mount", ":http:", s.mnt, "--config", s.b.rcloneConf,
		"--http-url", s.b.origin.srcURL+"/", "--read-only", "--vfs-cache-mode", "full",
		"--cache-dir", s.cache, "--log-level", "ERROR")
	if err != nil {
		return nil, err
	}
	m := s.b.track(&mount{dir: s.mnt, proc: p})
	if m.ready, err = waitMounted(ctx, p, s.mnt); err != nil {
		_ = m.stop() // the error at hand says more
		return nil, fmt.Errorf("rclone mount: %w", err)
	}
	return m, nil
}

// prepare empties the cache directory when cold, makes sure the
// mountpoint exists and is free, and drops the page cache.
func prepare(cache, mnt string, cold bool) error {
	if cold {
		if err := os.RemoveAll(cache); err != nil {
			return fmt.Errorf("empty the cache: %w", err)
		}
	}
	if err := unmount(mnt); err != nil {
		return err
	}
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return err
	}
	return dropCaches()
}

// waitMounted polls the mount table until dir appears, for a mount that
// prints nothing when it is ready. It returns when it saw it.
func waitMounted(ctx context.Context, p *proc, dir string) (time.Time, error) {
	deadline := time.Now().Add(readyTimeout)
	for {
		if ok, err := isMounted(dir); err != nil || ok {
			return time.Now(), err
		}
		switch {
		case p.exited():
			return time.Time{}, fmt.Errorf("exited (%v) before mounting\nstderr: %s", p.err, p.stderr.String())
		case ctx.Err() != nil:
			return time.Time{}, context.Cause(ctx)
		case time.Now().After(deadline):
			return time.Time{}, fmt.Errorf("%s not mounted after %v\nstderr: %s", dir, readyTimeout, p.stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
}
