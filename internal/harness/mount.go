package harness

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Mount is a child process serving a FUSE mount, and its mountpoint.
type Mount struct {
	*Process
	// Dir is the mountpoint.
	Dir string
	// Digest is the manifest digest the ready line named; "" for a mount
	// that StartMount did not start.
	Digest string
	// Ready is when the mount was seen ready: when its ready line arrived.
	Ready time.Time
}

// failGrace is how long a child that failed to start a mount or a server
// gets to exit after SIGTERM before it is killed.
const failGrace = 10 * time.Second

// StartMount starts c, a `piecefs mount` whose mountpoint is dir, and
// waits, within ctx, until it prints its ready line naming dir and dir is
// in the mount table. On failure it stops the child and unmounts dir.
func StartMount(ctx context.Context, c Command, dir string) (*Mount, error) {
	p, err := Start(c)
	if err != nil {
		return nil, err
	}
	m := &Mount{Process: p, Dir: dir}
	if err := m.awaitReady(ctx); err != nil {
		_ = m.Stop(context.Background(), failGrace) // the error at hand says more
		return nil, err
	}
	return m, nil
}

func (m *Mount) awaitReady(ctx context.Context) error {
	l, err := m.NextLine(ctx)
	if err != nil {
		return err
	}
	digest, dir, ok := ParseReadyLine(l.Text)
	if !ok || dir != m.Dir {
		return fmt.Errorf("%s printed %q, want %q", m.name, l.Text, "mounted sha256:<hex> at "+m.Dir)
	}
	if mounted, err := IsMounted(m.Dir); err != nil || !mounted {
		return errors.Join(err, fmt.Errorf("%s printed %q, but %s is not in the mount table", m.name, l.Text, m.Dir))
	}
	m.Digest, m.Ready = digest, l.At
	return nil
}

// Stop stops the child as Process.Stop does and then unmounts whatever is
// still mounted on Dir (a killed server leaves its mount behind, dead).
func (m *Mount) Stop(ctx context.Context, grace time.Duration) error {
	return errors.Join(m.Process.Stop(ctx, grace), Unmount(m.Dir))
}
