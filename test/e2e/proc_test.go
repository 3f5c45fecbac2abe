package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a long-running subprocess (a mount, an origin) that a test owns.
// Its stdout lines arrive on a channel; its stderr is kept for failure
// messages.
type proc struct {
	name   string
	cmd    *exec.Cmd
	lines  chan string // stdout lines; dropped if nobody reads
	stderr lockedBuffer
	done   chan struct{} // closed once the process has been reaped
	err    error         // Wait's result; read only after done is closed
}

// startProc starts name with args. A cleanup kills the process if it is
// still running when the test ends; callers that stop it gracefully
// register their own cleanup after this one, so theirs runs first.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, lines: make(chan string, 64), done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Env = append(os.Environ(), "LC_ALL=C")
	p.cmd.Stdout = &lineWriter{lines: p.lines}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.signal(syscall.SIGKILL)
			p.wait(10 * time.Second)
		}
	})
	return p
}

// firstLine waits up to timeout for the first line on stdout.
func (p *proc) firstLine(timeout time.Duration) (string, error) {
	select {
	case l := <-p.lines:
		return l, nil
	case <-p.done:
		select { // the line and the exit may race
		case l := <-p.lines:
			return l, nil
		default:
		}
		return "", fmt.Errorf("%s exited (%v) before printing a line\nstderr: %s", p.name, p.err, p.stderrTail())
	case <-time.After(timeout):
		return "", fmt.Errorf("%s printed no line within %v\nstderr: %s", p.name, timeout, p.stderrTail())
	}
}

// signal sends sig to the process, by its PID.
func (p *proc) signal(sig syscall.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(sig) // it may exit meanwhile; wait tells
	}
}

// wait waits up to timeout for the process to exit and reports whether it did.
func (p *proc) wait(timeout time.Duration) bool {
	if p.exited() {
		return true // select would pick at random between done and a zero timer
	}
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
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

// exitCode is the exit status after the process exited; -1 if a signal
// ended it.
func (p *proc) exitCode() int {
	<-p.done
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -1
	}
	return 0
}

func (p *proc) stderrTail() string { return tail(p.stderr.Bytes()) }

// stdoutLines returns every complete line printed so far.
func (p *proc) stdoutLines() []string {
	w := p.cmd.Stdout.(*lineWriter)
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.all)
}

// lineWriter turns a process's stdout into lines. It never blocks, so the
// process never stalls on a full pipe.
type lineWriter struct {
	mu      sync.Mutex // guards partial and all
	partial []byte
	all     []string
	lines   chan string
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := strings.TrimSuffix(string(w.partial[:i]), "\r")
		w.partial = w.partial[i+1:]
		w.all = append(w.all, line)
		select {
		case w.lines <- line:
		default:
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for the copying goroutine and the test.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of what was written so far.
func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}
