package e2e

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// proc is a long-running subprocess (a mount, an origin) that a test owns.
// internal/harness starts it in a process group of its own, keeps its
// stdout lines and stderr, and reaps it; the methods below put that in the
// tests' terms: timeouts rather than contexts, booleans rather than errors.
type proc struct {
	*harness.Process
}

// startProc starts name with args. A cleanup kills the process group if it
// is still running when the test ends; callers that stop it gracefully
// register their own cleanup after this one, so theirs runs first.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	hp, err := harness.Start(harness.Command{Path: name, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{hp}
	t.Cleanup(func() {
		p.Kill()
		if !p.wait(harness.KillWait) {
			t.Errorf("%s not reaped %v after SIGKILL", name, harness.KillWait)
		}
	})
	return p
}

// timeoutCtx is a context that ends after d or with the test.
func timeoutCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// firstLine waits up to timeout for the next line on stdout.
func (p *proc) firstLine(timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	l, err := p.NextLine(ctx)
	return l.Text, err
}

// signal sends sig to the process, by its PID.
func (p *proc) signal(sig syscall.Signal) { _ = p.Signal(sig) }

// wait waits up to timeout for the process to exit and reports whether it did.
func (p *proc) wait(timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_ = p.Wait(ctx) // Exited tells
	return p.Exited()
}

func (p *proc) exited() bool { return p.Exited() }

// exitCode waits for the process to exit and returns its exit status; -1
// if a signal ended it.
func (p *proc) exitCode() int {
	<-p.Done()
	return p.ExitCode()
}

func (p *proc) stderrTail() string { return tail(p.Stderr()) }

// stdoutLines returns every complete line printed so far.
func (p *proc) stdoutLines() []string { return p.Lines() }

// stopProc asks a server to stop and kills it if it does not.
func stopProc(p *proc) { _ = p.Stop(context.Background(), 10*time.Second) }
