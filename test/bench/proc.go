package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a long-running child process: an origin, a mount, the ceiling
// server. It runs in its own process group, so that ^C at a terminal
// reaches only the benchmark, and gets SIGTERM if the benchmark dies.
// Its stdout arrives as lines stamped with their arrival time (the mount's
// ready line starts the time-to-first-byte clock); its stderr is kept for
// error messages.
type proc struct {
	name   string
	cmd    *exec.Cmd
	lines  chan line // stdout lines; dropped when nobody reads
	stderr tailBuffer
	done   chan struct{} // closed once the process has been reaped
	err    error         // Wait's result; read only after done is closed
}

// line is one line of a child's stdout and when it arrived.
type line struct {
	text string
	at   time.Time
}

// startProc starts name with args.
func startProc(name string, args ...string) (*proc, error) {
	p := &proc{name: name, lines: make(chan line, 16), done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Env = append(os.Environ(), "LC_ALL=C")
	p.cmd.Stdout = &lineWriter{lines: p.lines}
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// waitLine waits for the next stdout line.
func (p *proc) waitLine(ctx context.Context, timeout time.Duration) (line, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case l := <-p.lines:
		return l, nil
	case <-p.done:
		select { // the line and the exit may race
		case l := <-p.lines:
			return l, nil
		default:
		}
		return line{}, fmt.Errorf("%s exited (%v) before printing a line\nstderr: %s", p.name, p.err, p.stderr.String())
	case <-timer.C:
		return line{}, fmt.Errorf("%s printed nothing within %v\nstderr: %s", p.name, timeout, p.stderr.String())
	case <-ctx.Done():
		return line{}, context.Cause(ctx)
	}
}

// signal sends sig to the process (not its group: a mount's helpers, if
// any, are its own business).
func (p *proc) signal(sig syscall.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(sig) // it may exit meanwhile; wait tells
	}
}

// wait waits up to timeout for the process to exit and reports whether it did.
func (p *proc) wait(timeout time.Duration) bool {
	if p.exited() {
		return true
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return true
	case <-timer.C:
		return false
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to timeout, then kills. It returns the
// process's exit error (nil for status 0), or an error if it had to kill.
func (p *proc) stop(timeout time.Duration) error {
	p.signal(syscall.SIGTERM)
	if p.wait(timeout) {
		return p.err
	}
	p.signal(syscall.SIGKILL)
	p.wait(10 * time.Second)
	return fmt.Errorf("%s did not exit within %v of SIGTERM; killed", p.name, timeout)
}

// lineWriter turns a child's stdout into stamped lines. It never blocks,
// so the child never stalls on a full pipe.
type lineWriter struct {
	mu      sync.Mutex // guards partial
	partial []byte
	lines   chan line
}

func (w *lineWriter) Write(b []byte) (int, error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		l := line{text: strings.TrimSuffix(string(w.partial[:i]), "\r"), at: now}
		w.partial = w.partial[i+1:]
		select {
		case w.lines <- l:
		default:
		}
	}
}

// tailBuffer keeps the last tailSize bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex // guards buf
	buf []byte
}

const tailSize = 8 << 10

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - tailSize; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
