package fs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"golang.org/x/sys/unix"
)

// helperEnv names the mountpoint for TestHelperServe, which runs in a
// subprocess of TestStaleMountIsReplaced.
const helperEnv = "PIECEFS_FS_TEST_HELPER_MOUNTPOINT"

// TestStaleMountIsReplaced kills a serving process with SIGKILL, as a user
// or the OOM killer might, and checks that mounting again just works.
func TestStaleMountIsReplaced(t *testing.T) {
	requireFUSE(t)
	mnt := t.TempDir()
	killServer(t, mnt)
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("statfs of the dead mount: %v, want ENOTCONN", err)
	}

	f := newFixture(t)
	log, hook := test.NewNullLogger()
	srv, err := Mount(mnt, f.m, f, Options{Log: log})
	if err != nil {
		t.Fatalf("Mount over a stale mount: %v", err)
	}
	if e := hook.LastEntry(); e == nil || e.Level != logrus.WarnLevel || e.Data["mountpoint"] != mnt {
		t.Errorf("last log entry %v, want a warning naming the mountpoint", e)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
		}
	})
	got, err := os.ReadFile(filepath.Join(mnt, "hello.txt"))
	if err != nil || string(got) != "hello, world\n" {
		t.Errorf("read after remount = %q, %v", got, err)
	}
}

// killServer starts TestHelperServe on mnt in a subprocess, waits until it
// has mounted, and kills it with SIGKILL, leaving the mount behind.
func killServer(t *testing.T, mnt string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServe$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+mnt)
	cmd.Stderr = os.Stderr
	// The helper unmounts and exits when its stdin closes, so it cannot
	// outlive this test even if the kill below is never reached.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// If the test fails before mounting again, the dead mount must still
	// go, or the temporary directory cannot be removed.
	t.Cleanup(func() { syscall.Unmount(mnt, unix.MNT_DETACH) })
	defer cmd.Wait()
	if err := waitFor(stdout, "mounted"); err != nil {
		cmd.Process.Kill()
		t.Fatalf("helper: %v", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
}

func waitFor(r io.Reader, line string) error {
	s := bufio.NewScanner(r)
	for s.Scan() {
		if s.Text() == line {
			return nil
		}
	}
	return fmt.Errorf("exited before printing %q (%v)", line, s.Err())
}

// TestHelperServe is not a test on its own: it serves the fixture for
// killServer.
func TestHelperServe(t *testing.T) {
	mnt := os.Getenv(helperEnv)
	if mnt == "" {
		t.Skip("runs only as the subprocess of TestStaleMountIsReplaced")
	}
	f := newFixture(t)
	srv, err := Mount(mnt, f.m, f, Options{})
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	fmt.Println("mounted")
	io.Copy(io.Discard, os.Stdin)
	if err := srv.Unmount(); err != nil {
		t.Errorf("Unmount: %v", err)
	}
}
