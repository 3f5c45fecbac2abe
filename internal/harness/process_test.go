package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// orphanEnv, set, makes the test binary a parent that starts `sleep`,
// prints its PID and exits, for TestParentDeathSignal.
const orphanEnv = "HARNESS_TEST_ORPHAN"

func TestMain(m *testing.M) {
	if os.Getenv(orphanEnv) != "" {
		p, err := Start(Command{Path: "sleep", Args: []string{"60"}}) // not forever, should the test fail
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(p.PID())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// start starts c and kills it, if it still runs, when the test ends.
func start(t *testing.T, c Command) *Process {
	t.Helper()
	p, err := Start(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if !p.waitFor(KillWait) {
			t.Errorf("%s not reaped after SIGKILL", c.Path)
		}
	})
	return p
}

// sh starts a shell script; "$1" and on are args.
func sh(t *testing.T, script string, args ...string) *Process {
	t.Helper()
	return start(t, Command{Path: "sh", Args: append([]string{"-c", script, "sh"}, args...)})
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// expectGone waits until pid no longer runs: it is reaped or a zombie.
func expectGone(t *testing.T, pid int, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return // reaped
		}
		// pid (comm) state …: the state follows the last ')'.
		if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 0 && f[0] == "Z" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) still runs: %s", what, pid, b)
		}
	}
}

// printedPID reads a PID that p prints on a line of its own.
func printedPID(t *testing.T, p *Process) int {
	t.Helper()
	l, err := p.NextLine(timeout(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(l.Text)
	if err != nil {
		t.Fatalf("%s printed %q, want a PID", p.Name(), l.Text)
	}
	return pid
}

func TestStartGroupAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	p := start(t, Command{Path: "sh", Args: []string{"-c", `echo "$LC_ALL $EXTRA $(pwd)"; sleep 1000`}, Dir: dir, Env: []string{"EXTRA=x"}})
	l, err := p.NextLine(timeout(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if want := "C x " + dir; l.Text != want {
		t.Errorf("child printed %q, want %q", l.Text, want)
	}
	pgid, err := unix.Getpgid(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	if pgid != p.PID() {
		t.Errorf("child's process group is %d, want its own, %d", pgid, p.PID())
	}
	if p.Exited() || p.Err() != nil || p.ExitCode() != -1 || !p.ExitTime().IsZero() {
		t.Errorf("running child: Exited %v, Err %v, ExitCode %d, ExitTime %v; want false, nil, -1, zero", p.Exited(), p.Err(), p.ExitCode(), p.ExitTime())
	}
}

func TestLines(t *testing.T) {
	p := sh(t, `echo one; echo two; sleep 0.1; printf 'three\r\n'; printf partial`)
	ctx := timeout(t, 10*time.Second)
	var got []string
	for {
		l, err := p.NextLine(ctx)
		if err != nil {
			if !errors.Is(err, ErrExited) {
				t.Fatalf("NextLine after %q: %v, want an error wrapping ErrExited", got, err)
			}
			break
		}
		if l.At.Before(p.StartTime()) {
			t.Errorf("line %q stamped %v, before the start %v", l.Text, l.At, p.StartTime())
		}
		got = append(got, l.Text)
	}
	want := []string{"one", "two", "three"}
	if !slices.Equal(got, want) {
		t.Errorf("NextLine returned %q, want %q", got, want)
	}
	if all := p.Lines(); !slices.Equal(all, want) {
		t.Errorf("Lines = %q, want %q", all, want)
	}
	if p.ExitCode() != 0 || p.Err() != nil {
		t.Errorf("ExitCode %d, Err %v; want 0, nil", p.ExitCode(), p.Err())
	}
}

func TestNextLineContext(t *testing.T) {
	p := start(t, Command{Path: "sleep", Args: []string{"1000"}})
	_, err := p.NextLine(timeout(t, 50*time.Millisecond))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("NextLine of a silent child: %v, want an error wrapping context.DeadlineExceeded", err)
	}
	if p.Exited() {
		t.Error("the child exited when NextLine gave up; it must go on running")
	}
}

func TestStderrKeptAndCopied(t *testing.T) {
	var copied bytes.Buffer
	p := start(t, Command{Path: "sh", Args: []string{"-c", `echo first >&2; head -c 2000000 /dev/zero | tr '\0' x >&2; echo last >&2`}, Stderr: &copied})
	if err := p.Wait(timeout(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	got := p.Stderr()
	if len(got) != StderrKept || !bytes.HasSuffix(got, []byte("xxlast\n")) {
		t.Errorf("kept %d bytes ending %q, want the last %d ending %q", len(got), Tail(got, 8), StderrKept, "xxlast\n")
	}
	if !bytes.HasPrefix(copied.Bytes(), []byte("first\n")) || copied.Len() != len("first\n")+2000000+len("last\n") {
		t.Errorf("Command.Stderr got %d bytes starting %q, want all of it", copied.Len(), copied.Bytes()[:min(8, copied.Len())])
	}
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	p, err := Run(timeout(t, 30*time.Second), Command{Path: "sh", Args: []string{"-c", "cat; echo err >&2; exit 3"}, Stdin: strings.NewReader("in\n"), Stdout: &out})
	if ExitCode(err) != 3 || p.ExitCode() != 3 {
		t.Errorf("Run: %v, ExitCode %d; want exit status 3", err, p.ExitCode())
	}
	if out.String() != "in\n" || string(p.Stderr()) != "err\n" {
		t.Errorf("stdout %q, stderr %q; want %q, %q", out.String(), p.Stderr(), "in\n", "err\n")
	}
	if p.Lines() != nil {
		t.Errorf("Lines = %q with Command.Stdout set, want nil", p.Lines())
	}
	if _, err := p.NextLine(context.Background()); err == nil {
		t.Error("NextLine with Command.Stdout set succeeded, want an error")
	}
	if p.ExitTime().Before(p.StartTime()) {
		t.Errorf("ExitTime %v before StartTime %v", p.ExitTime(), p.StartTime())
	}
}

func TestRunKillsOnContext(t *testing.T) {
	begin := time.Now()
	p, err := Run(timeout(t, 100*time.Millisecond), Command{Path: "sh", Args: []string{"-c", "sleep 1000 & wait"}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run past its context: %v, want an error wrapping context.DeadlineExceeded", err)
	}
	if !p.Exited() || time.Since(begin) > 5*time.Second {
		t.Errorf("Run returned after %v, exited %v; want the child killed and reaped at once", time.Since(begin), p.Exited())
	}
	if _, err := Run(context.Background(), Command{Path: "/nonexistent/program"}); err == nil {
		t.Error("Run of a missing program succeeded")
	}
}

func TestStopGraceful(t *testing.T) {
	p := sh(t, `trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done`)
	if _, err := p.NextLine(timeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	err := p.Stop(context.Background(), 10*time.Second)
	if ExitCode(err) != 7 || !p.Exited() {
		t.Errorf("Stop: %v (exited %v), want the child's exit status 7", err, p.Exited())
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("Signal after exit: %v, want nil", err)
	}
	if err := p.Stop(context.Background(), time.Second); ExitCode(err) != 7 {
		t.Errorf("second Stop: %v, want the exit status again", err)
	}
}

// TestStopKillsGroup stops a child that ignores SIGTERM and has a child of
// its own: both must be gone.
func TestStopKillsGroup(t *testing.T) {
	p := sh(t, `trap '' TERM; sleep 60 & echo $!; wait`) // not forever, should the test fail
	grandchild := printedPID(t, p)
	begin := time.Now()
	err := p.Stop(context.Background(), 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop of a child that ignores SIGTERM: %v, want it killed", err)
	}
	if d := time.Since(begin); d < 200*time.Millisecond || d > 5*time.Second {
		t.Errorf("Stop took %v, want the grace of 200ms and a little", d)
	}
	expectGone(t, grandchild, "the child's own child")
}

// TestExitKillsGroup: what a child leaves running in its group when it
// exits dies with it.
func TestExitKillsGroup(t *testing.T) {
	p := sh(t, `sleep 60 & echo $!`) // not forever, should the test fail
	grandchild := printedPID(t, p)
	if err := p.Wait(timeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	expectGone(t, grandchild, "the exited child's own child")
}

func TestStopContext(t *testing.T) {
	p := sh(t, `trap '' TERM; echo ready; while :; do sleep 0.05; done`)
	if _, err := p.NextLine(timeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cause := errors.New("interrupted")
	time.AfterFunc(50*time.Millisecond, func() { cancel(cause) })
	if err := p.Stop(ctx, time.Hour); err == nil || !strings.Contains(err.Error(), "interrupted") || !p.Exited() {
		t.Errorf("Stop with an ended context: %v, exited %v; want it killed, naming the cause", err, p.Exited())
	}
}

// TestParentDeathSignal runs a parent that starts `sleep` and exits
// without stopping it: the sleep must die too.
func TestParentDeathSignal(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := Run(timeout(t, 30*time.Second), Command{Path: exe, Args: []string{"-test.run=^$"}, Env: []string{orphanEnv + "=1"}, Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("parent printed %q, want a PID", out.String())
	}
	expectGone(t, pid, "the child of a parent that exited")
}

func TestExitCode(t *testing.T) {
	err := exec.Command("sh", "-c", "exit 5").Run()
	for _, tt := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{err, 5},
		{fmt.Errorf("wrapped: %w", err), 5},
		{errors.New("other"), -1},
	} {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
