package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Command describes a child process for Start and Run.
type Command struct {
	// Path is the program: a path, or a name looked up in PATH.
	Path string
	// Args are the arguments after the program's name.
	Args []string
	// Dir is the working directory; "" is the caller's.
	Dir string
	// Env is added to the caller's environment, after LC_ALL=C.
	Env []string
	// Stdin is the standard input; nil reads from /dev/null.
	Stdin io.Reader
	// Stdout takes the standard output. When it is nil, the Process keeps
	// the output as lines for NextLine and Lines; a child that prints much
	// should be given a writer instead.
	Stdout io.Writer
	// Stderr, when not nil, gets a copy of the standard error, which the
	// Process keeps in any case.
	Stderr io.Writer
}

// ErrExited is wrapped by the errors of functions that waited for a child
// to do something and saw it exit instead.
var ErrExited = errors.New("exited")

// KillWait bounds how long Stop and Run wait for a killed process to be
// reaped. Only a process stuck in the kernel takes longer.
const KillWait = 10 * time.Second

// waitDelay bounds how long the reaping goroutine waits, after the child
// exited, for stdout and stderr to close: a grandchild may hold them open.
const waitDelay = 5 * time.Second

// Process is a running or exited child. Its methods may be called from any
// goroutine.
type Process struct {
	name   string // the program's base name, for messages
	cmd    *exec.Cmd
	stdout *lineBuffer // nil when Command.Stdout took the output
	stderr tailBuffer
	start  time.Time

	mu         sync.Mutex // guards leaderGone
	leaderGone bool       // the child has exited: its group is no longer signalled

	done chan struct{} // closed once the child has been reaped
	err  error         // cmd.Wait's result; read only after done is closed
	end  time.Time     // when it was reaped; read only after done is closed
}

// Start starts c as described in the package documentation and returns at
// once. The caller ends the child with Stop or Kill, or waits for it with
// Wait.
func Start(c Command) (*Process, error) {
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = append(append(os.Environ(), "LC_ALL=C"), c.Env...)
	cmd.Stdin = c.Stdin
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.WaitDelay = waitDelay
	p := &Process{name: filepath.Base(c.Path), cmd: cmd, done: make(chan struct{})}
	cmd.Stdout = c.Stdout
	if c.Stdout == nil {
		p.stdout = newLineBuffer()
		cmd.Stdout = p.stdout
	}
	cmd.Stderr = &p.stderr
	if c.Stderr != nil {
		cmd.Stderr = &tee{keep: &p.stderr, also: c.Stderr}
	}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Path, err)
	}
	go p.reap()
	return p, nil
}

// Run starts c and waits for it to exit. If ctx ends first, Run kills the
// process group and returns an error wrapping ctx's cause. Otherwise it
// returns the exit status as Wait does. The Process is returned, exited,
// whenever the child started, so that its output and times can be read.
func Run(ctx context.Context, c Command) (*Process, error) {
	p, err := Start(c)
	if err != nil {
		return nil, err
	}
	if err := p.Wait(ctx); ctx.Err() == nil || p.Exited() {
		return p, err
	}
	p.Kill()
	if !p.waitFor(KillWait) {
		return p, fmt.Errorf("%s not reaped %v after SIGKILL", p.name, KillWait)
	}
	return p, fmt.Errorf("%s killed: %w", p.name, context.Cause(ctx))
}

// reap waits for the child to exit, kills what it left in its process
// group, and reaps it. The group is signalled only while the child is
// unreaped, a zombie at least, so that its ID cannot have been given to a
// new group.
func (p *Process) reap() {
	var info unix.Siginfo
	for unix.Waitid(unix.P_PID, p.cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
	}
	p.mu.Lock()
	_ = unix.Kill(-p.cmd.Process.Pid, unix.SIGKILL) // ESRCH: nothing was left
	p.leaderGone = true
	p.mu.Unlock()
	p.err = p.cmd.Wait()
	p.end = time.Now()
	close(p.done)
}

// PID is the child's process ID, which is also its process group's ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Name is the base name of the program, as the harness's messages use it.
func (p *Process) Name() string { return p.name }

// Done is closed once the child has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the child has exited and been reaped.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is the exit status as exec.Cmd.Wait reports it: nil for status 0, an
// *exec.ExitError otherwise. It is nil while the child runs.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// ExitCode is the exit status; -1 while the child runs or when a signal
// ended it.
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return ExitCode(p.err)
}

// ExitCode is the exit status that err, from exec.Cmd.Run or Wait, stands
// for: 0 for nil, the status of an *exec.ExitError, and -1 for anything
// else (a signal, a failure to start).
func ExitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	default:
		return -1
	}
}

// StartTime is when Start was called.
func (p *Process) StartTime() time.Time { return p.start }

// ExitTime is when the child was reaped, its output read to the end; the
// zero time while it runs.
func (p *Process) ExitTime() time.Time {
	if !p.Exited() {
		return time.Time{}
	}
	return p.end
}

// Wait waits for the child to exit and returns its exit status as Err
// does, or, if ctx ends first, an error wrapping ctx's cause; the child
// then goes on running.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return fmt.Errorf("%s still running: %w", p.name, context.Cause(ctx))
	}
}

// waitFor waits up to d for the child to be reaped and reports whether it
// was.
func (p *Process) waitFor(d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_ = p.Wait(ctx) // Exited tells
	return p.Exited()
}

// Signal sends sig to the child, by its PID only. It does nothing once the
// child has exited.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	return nil
}

// Kill sends SIGKILL to the child's process group, and so to what the
// child started and left in it, and returns without waiting; Wait or Done
// tell when the child is reaped.
func (p *Process) Kill() {
	p.mu.Lock()
	if !p.leaderGone {
		_ = unix.Kill(-p.PID(), unix.SIGKILL) // ESRCH: the group is gone already
	}
	p.mu.Unlock()
	_ = p.Signal(syscall.SIGKILL) // in case the child left its group
}

// Stop ends the child the way a service manager would: SIGTERM to the
// child, then, if it has not exited within grace or when ctx ends, SIGKILL
// to its group. It returns once the child is reaped, or KillWait after the
// kill. The error is the child's exit status (nil for 0) when it exited by
// itself, else says that it had to be killed.
func (p *Process) Stop(ctx context.Context, grace time.Duration) error {
	_ = p.Signal(syscall.SIGTERM) // nothing to do once it has exited
	wctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	if err := p.Wait(wctx); p.Exited() {
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		return nil
	}
	p.Kill()
	why := fmt.Sprintf("still running %v after SIGTERM", grace)
	if ctx.Err() != nil {
		why = context.Cause(ctx).Error()
	}
	if !p.waitFor(KillWait) {
		return fmt.Errorf("%s %s; not reaped %v after SIGKILL", p.name, why, KillWait)
	}
	return fmt.Errorf("%s %s; killed", p.name, why)
}
