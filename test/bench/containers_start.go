package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// One container start: a fresh `piecefs mount --bundle DIR -- PROGRAM`,
// which writes the bundle before its ready line, `runc run` of the bundle,
// and the Python program's line read from runc's stdout; or, for the local
// baseline, runc alone on the root file system.

// ctrProgram is the container's command: Python starts, imports a few
// modules of its standard library, lists one directory and prints a line.
var ctrProgram = []string{"/usr/bin/python3", "-c",
	`import os, sys, re, collections, functools; print("piecefs-bench: python", sys.version.split()[0], len(os.listdir(os.path.dirname(os.__file__))), "modules")`}

// ctrOutputPrefix starts the line the program prints.
const ctrOutputPrefix = "piecefs-bench: python "

// ctrSettleLimit bounds the wait for the origin to be quiet after a
// counted start: a prefetch may still be fetching.
const ctrSettleLimit = time.Minute

// ctrTimeout bounds one start, from the mount to the container's exit.
const ctrTimeout = 2 * time.Minute

// ctrMount is a piecefs mount of the container mode: like piecefsMount,
// with the log at info (the prefetch's summary is an info line), extra
// flags (--record), and --bundle.
type ctrMount struct {
	c     *ctrBench
	url   string // the origin or the relay
	tag   string
	cache string
	mnt   string
	extra []string
	// relay, when the mount goes through it, gets its count noted in
	// atReady when the mount is ready.
	relay   *relay
	atReady int64
}

// start mounts afresh with the bundle written into bundle, emptying the
// cache first when cold, with the page cache dropped just before the
// process starts.
func (s *ctrMount) start(ctx context.Context, bundle string, cold bool) (*mount, error) {
	if err := os.RemoveAll(bundle); err != nil {
		return nil, err
	}
	if err := prepare(s.cache, s.mnt, cold); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	args := []string{"mount", "--cache", s.cache, "--memory-cache", strconv.FormatInt(s.c.cfg.memoryCache, 10),
		"--tag", s.tag, "--log-level", "info", "--bundle", bundle}
	args = append(append(append(args, s.extra...), s.url, s.mnt, "--"), ctrProgram...)
	hm, err := harness.StartMount(ctx, harness.Command{Path: s.c.bin, Args: args}, s.mnt)
	if err != nil {
		return nil, fmt.Errorf("piecefs mount: %w", err)
	}
	if s.relay != nil {
		s.atReady = s.relay.sent.Load()
	}
	return s.c.track(&mount{Mount: hm, strict: true}), nil
}

// startTimes are one start's moments, measured from when the mount process
// started (or, local, when runc did). The ready line comes once the bundle
// is written (mount --bundle).
type startTimes struct {
	ready, output time.Duration
	runc          time.Duration // from runc's start to the output
}

// startOn makes one start on a fresh mount of s and returns its times,
// with the mount still running (the caller stops it: the record is written
// then, and the count of the origin's bytes waits for quiet first).
func (c *ctrBench) startOn(ctx context.Context, s *ctrMount, cold bool) (startTimes, *mount, error) {
	bundle := filepath.Join(c.tmp, "bundle")
	m, err := s.start(ctx, bundle, cold)
	if err != nil {
		return startTimes{}, nil, err
	}
	t0 := m.StartTime()
	st := startTimes{ready: m.Ready.Sub(t0)}
	if c.spec == nil {
		if c.spec, err = os.ReadFile(filepath.Join(bundle, "config.json")); err != nil {
			return st, m, err
		}
	}
	out, runcStart, err := c.runContainer(ctx, bundle)
	st.output, st.runc = out.Sub(t0), out.Sub(runcStart)
	return st, m, err
}

// startLocal makes one start of the local baseline: runc on the root file
// system itself, with the spec piecefs mount --bundle wrote but that root, the
// page cache dropped first.
func (c *ctrBench) startLocal(ctx context.Context) (startTimes, error) {
	bundle := filepath.Join(c.tmp, "bundle-local")
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return startTimes{}, err
	}
	spec, err := withRoot(c.spec, c.rootfs)
	if err != nil {
		return startTimes{}, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), spec, 0o644); err != nil {
		return startTimes{}, err
	}
	if err := dropCaches(); err != nil {
		return startTimes{}, err
	}
	out, start, err := c.runContainer(ctx, bundle)
	d := out.Sub(start)
	return startTimes{output: d, runc: d}, err
}

// withRoot returns an OCI runtime spec with its root path replaced.
func withRoot(spec []byte, root string) ([]byte, error) {
	if spec == nil {
		return nil, errors.New("no spec: the local runs need a bundle written first")
	}
	var s map[string]any
	if err := json.Unmarshal(spec, &s); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	r, ok := s["root"].(map[string]any)
	if !ok {
		return nil, errors.New("config.json has no root")
	}
	r["path"] = root
	return json.MarshalIndent(s, "", "\t")
}

// runContainer runs the bundle with runc, waits for the program's line
// and for runc to exit, and returns when the line arrived and when runc
// started.
func (c *ctrBench) runContainer(ctx context.Context, bundle string) (line, start time.Time, err error) {
	ctx, cancel := context.WithTimeout(ctx, ctrTimeout)
	defer cancel()
	c.seq++
	name := fmt.Sprintf("piecefs-bench-%d-%d", os.Getpid(), c.seq)
	c.clean.add(func() {
		_, _ = harness.Run(context.Background(), harness.Command{Path: c.runc, Args: []string{"delete", "--force", name}})
	})
	p, err := harness.Start(harness.Command{Path: c.runc, Args: []string{"run", "--bundle", bundle, name}})
	if err != nil {
		return line, start, err
	}
	start = p.StartTime()
	l, err := p.NextLine(ctx)
	if err == nil && !strings.HasPrefix(l.Text, ctrOutputPrefix) {
		err = fmt.Errorf("the container printed %q, want a line starting %q", l.Text, ctrOutputPrefix)
	}
	if werr := p.Wait(ctx); err == nil && werr != nil {
		err = fmt.Errorf("runc run: %w\nstderr: %s", werr, harness.Tail(p.Stderr(), 4<<10))
	}
	if err != nil {
		p.Kill()
		return line, start, err
	}
	c.info.outputLine = l.Text
	return l.At, start, nil
}
