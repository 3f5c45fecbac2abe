package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/piecefs/piecefs/internal/harness"
)

// ceilingFlag, as the first argument, makes this binary the child that
// serves the FUSE ceiling file: ceilingFlag MOUNTPOINT SIZE. It is not a
// registered flag, so -help does not list it.
const ceilingFlag = "-ceiling-child"

// ceilingName is the memory-backed file in the ceiling mount.
const ceilingName = "mem.bin"

// childMain runs the ceiling child when args ask for it.
func childMain(args []string) (code int, ok bool) {
	if len(args) == 0 || args[0] != ceilingFlag {
		return 0, false
	}
	if err := serveCeiling(args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench ceiling child:", err)
		return 1, true
	}
	return 0, true
}

// serveCeiling mounts one memory-backed file with piecefs's mount options,
// prints "mounted", and serves until SIGTERM or SIGINT.
func serveCeiling(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("want MOUNTPOINT SIZE, got %q", args)
	}
	size, err := strconv.ParseInt(args[1], 10, 64)
	if err != nil {
		return err
	}
	// Random bytes, so that every page is really allocated and copied.
	data := make([]byte, size)
	_, _ = rand.NewChaCha8(seed("ceiling")).Read(data) // never fails
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	srv, err := gofs.Mount(args[0], &ceilingRoot{data: data}, ceilingOptions())
	if err != nil {
		return err
	}
	fmt.Println("mounted")
	<-sigs
	return srv.Unmount()
}

// ceilingOptions are the mount options of piecefs's fs package: read-only,
// 1 MiB reads and readahead, replies written without splice, a direct
// mount, long cache timeouts.
func ceilingOptions() *gofs.Options {
	timeout := time.Hour
	return &gofs.Options{
		MountOptions: fuse.MountOptions{
			Options:          []string{"ro", "nosuid", "nodev"},
			FsName:           "piecefs-bench-ceiling",
			Name:             "piecefs-bench-ceiling",
			DirectMount:      true,
			DirectMountFlags: syscall.MS_RDONLY | syscall.MS_NOSUID | syscall.MS_NODEV,
			MaxWrite:         1 << 20,
			MaxReadAhead:     1 << 20,
			DisableSplice:    true,
		},
		EntryTimeout: &timeout,
		AttrTimeout:  &timeout,
	}
}

// ceilingRoot is a directory holding one MemRegularFile, which answers a
// read with a slice of its bytes (fuse.ReadResultData): no I/O, no copy
// besides the kernel's.
type ceilingRoot struct {
	gofs.Inode
	data []byte
}

var _ = (gofs.NodeOnAdder)((*ceilingRoot)(nil))

func (r *ceilingRoot) OnAdd(ctx context.Context) {
	f := &gofs.MemRegularFile{Data: r.data, Attr: fuse.Attr{Mode: 0o444}}
	r.AddChild(ceilingName, r.NewPersistentInode(ctx, f, gofs.StableAttr{Ino: 2}), false)
}

// startCeiling mounts the ceiling file of size bytes in a child process.
func (b *bench) startCeiling(ctx context.Context, size int64) (*mount, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	mnt := filepath.Join(b.tmp, "mnt-ceiling")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return nil, err
	}
	p, err := harness.Start(harness.Command{Path: exe, Args: []string{ceilingFlag, mnt, strconv.FormatInt(size, 10)}})
	if err != nil {
		return nil, err
	}
	m := b.track(&mount{Mount: &harness.Mount{Process: p, Dir: mnt}, strict: true})
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	l, err := p.NextLine(ctx)
	if err == nil && l.Text != "mounted" {
		err = fmt.Errorf("printed %q, want %q", l.Text, "mounted")
	}
	if err != nil {
		_ = m.stop() // the error at hand says more
		return nil, fmt.Errorf("ceiling child: %w", err)
	}
	m.Ready = l.At
	return m, nil
}
