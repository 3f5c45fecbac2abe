package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// StderrKept is how much of a child's stderr a Process keeps: the last
// bytes written.
const StderrKept = 1 << 20

// tailSize is how much of stderr an error message quotes.
const tailSize = 6000

// Line is one line of a child's stdout, without its line ending, and when
// it arrived (a mount's ready line starts a time-to-first-byte clock).
type Line struct {
	Text string
	At   time.Time
}

// NextLine returns the first line of stdout that NextLine has not returned
// yet, waiting for it if need be. It fails when the child exits without
// printing one (the error wraps ErrExited) or when ctx ends.
func (p *Process) NextLine(ctx context.Context) (Line, error) {
	if p.stdout == nil {
		return Line{}, errors.New("NextLine: the caller took stdout with Command.Stdout")
	}
	for {
		l, ok, added := p.stdout.next()
		if ok {
			return l, nil
		}
		select {
		case <-added:
		case <-p.done: // all output has been read: look once more
			if l, ok, _ := p.stdout.next(); ok {
				return l, nil
			}
			return Line{}, fmt.Errorf("%s %w (%v) before printing a line\nstderr: %s", p.name, ErrExited, p.err, p.stderrTail())
		case <-ctx.Done():
			return Line{}, fmt.Errorf("%s printed no line: %w\nstderr: %s", p.name, context.Cause(ctx), p.stderrTail())
		}
	}
}

// Lines returns every complete line printed on stdout so far; nil when the
// caller took stdout with Command.Stdout.
func (p *Process) Lines() []string {
	if p.stdout == nil {
		return nil
	}
	return p.stdout.texts()
}

// Stderr returns what the child wrote on stderr so far: all of it, or the
// last StderrKept bytes.
func (p *Process) Stderr() []byte { return p.stderr.bytes() }

// stderrTail is the end of stderr, for error messages.
func (p *Process) stderrTail() string { return Tail(p.stderr.bytes(), tailSize) }

// Tail returns the last n bytes of b as a string, marked with a leading
// "…" when it cut something.
func Tail(b []byte, n int) string {
	if len(b) > n {
		return "…" + string(b[len(b)-n:])
	}
	return string(b)
}

// lineBuffer turns a child's stdout into stamped lines. Its Write never
// blocks on a reader, so the child never stalls on a full pipe.
type lineBuffer struct {
	mu      sync.Mutex // guards the fields below
	partial []byte
	lines   []Line
	read    int           // how many lines next has returned
	added   chan struct{} // closed and replaced when a line arrives
}

func newLineBuffer() *lineBuffer { return &lineBuffer{added: make(chan struct{})} }

func (w *lineBuffer) Write(b []byte) (int, error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, b...)
	n := len(w.lines)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.lines = append(w.lines, Line{Text: strings.TrimSuffix(string(w.partial[:i]), "\r"), At: now})
		w.partial = w.partial[i+1:]
	}
	if len(w.lines) > n {
		close(w.added)
		w.added = make(chan struct{})
	}
	return len(b), nil
}

// next returns the first line not returned yet, if there is one, and else a
// channel closed when one arrives.
func (w *lineBuffer) next() (Line, bool, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.read < len(w.lines) {
		w.read++
		return w.lines[w.read-1], true, nil
	}
	return Line{}, false, w.added
}

func (w *lineBuffer) texts() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, len(w.lines))
	for i, l := range w.lines {
		out[i] = l.Text
	}
	return out
}

// tailBuffer keeps the last StderrKept bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex // guards buf
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - StderrKept; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.buf)
}

// tee writes to keep and, ignoring its errors, to also: a caller's writer
// that fails must not stop the child's output from being kept.
type tee struct {
	keep io.Writer
	also io.Writer
}

func (t *tee) Write(b []byte) (int, error) {
	_, _ = t.also.Write(b)
	return t.keep.Write(b)
}
