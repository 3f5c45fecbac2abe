package e2e

import (
	"bytes"
	"context"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// s3FetchTimeout is the --fetch-timeout of the s3:// mounts: a refusal
// must end the mount well within it.
const s3FetchTimeout = 5 * time.Second

// TestS3PrivateBucket publishes a small tree, uploads the output to a
// private bucket of moto_server (authentication on) with boto3, and mounts
// s3://BUCKET/PREFIX with --s3-endpoint: with the credentials in the
// environment every file reads back byte-identical, and so it does with
// the bucket as the mirror of an origin that is down; without credentials,
// or with a wrong secret, the mount fails within the fetch timeout and
// says which.
func TestS3PrivateBucket(t *testing.T) {
	requireFUSE(t)
	moto := startMoto(t)
	src := s3Tree(t)
	out := filepath.Join(t.TempDir(), "out")
	digest, err := publish(fx.bin, src, out, "--piece-size", "1MiB")
	if err != nil {
		t.Fatal(err)
	}
	moto.upload(t, "private-pub", "models/v1", out)
	const origin = "s3://private-pub/models/v1"

	t.Run("credentials", func(t *testing.T) {
		env := awsEnv(t, moto.id, moto.secret)
		m := startS3Mount(t, origin, moto.endpoint, env)
		if m.digest != digest {
			t.Errorf("mounted %s, want the published %s", m.digest, digest)
		}
		// A cold read of a few bytes inside a piece: a ranged GET, signed.
		readRange(t, filepath.Join(src, "weights.bin"), filepath.Join(m.dir, "weights.bin"), 3<<19+7, 100)
		compareTrees(t, src, m.dir)
		m.Stop(t)
		if stderr := string(m.Stderr()); !strings.Contains(stderr, "EnvConfigCredentials") {
			t.Errorf("the mount's log does not say where its credentials came from:\n%s", tail(m.Stderr()))
		}
	})
	t.Run("mirror", func(t *testing.T) {
		ports, err := harness.FreePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		down := harness.LoopbackURL(ports[0]) // nothing listens there
		m := startS3Mount(t, down, moto.endpoint, awsEnv(t, moto.id, moto.secret), "--mirror", origin)
		compareTrees(t, src, m.dir)
		m.Stop(t)
	})
	t.Run("no credentials", func(t *testing.T) {
		stderr := s3MountFails(t, origin, moto.endpoint, awsEnv(t, "", ""))
		for _, want := range []string{"no AWS credentials found", "private-pub"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr does not say %q:\n%s", want, stderr)
			}
		}
	})
	t.Run("wrong credentials", func(t *testing.T) {
		stderr := s3MountFails(t, origin, moto.endpoint, awsEnv(t, moto.id, "wrong-"+moto.secret))
		for _, want := range []string{"were refused", moto.id, "SignatureDoesNotMatch"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr does not say %q:\n%s", want, stderr)
			}
		}
	})
}

// s3Tree writes a small tree: files smaller than a piece, one of several
// pieces with a short last one, one in a subdirectory, and an empty one.
func s3Tree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "src")
	rng := rand.NewChaCha8([32]byte{'s', '3'})
	files := map[string]int{"hello.txt": 13, "weights.bin": 3<<20 + 12345, "sub/dir/table.bin": 200 << 10, "empty": 0}
	for name, size := range files {
		b := make([]byte, size)
		_, _ = rng.Read(b)
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// compareTrees checks that every regular file under src reads back from
// mnt with the same bytes.
func compareTrees(t *testing.T, src, mnt string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		want, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		got, err := os.ReadFile(filepath.Join(mnt, rel))
		switch {
		case err != nil:
			t.Errorf("read %s through the mount: %v", rel, err)
		case !bytes.Equal(got, want):
			t.Errorf("%s: %d bytes through the mount differ from the source's %d", rel, len(got), len(want))
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files read back through the mount", n)
}

// readRange checks that n bytes at off of the file at mnt are those of the
// file at src.
func readRange(t *testing.T, src, mnt string, off int64, n int) {
	t.Helper()
	want, got := make([]byte, n), make([]byte, n)
	for _, r := range []struct {
		path string
		buf  []byte
	}{{src, want}, {mnt, got}} {
		f, err := os.Open(r.path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.ReadAt(r.buf, off)
		f.Close()
		if err != nil {
			t.Fatalf("read %d bytes at %d of %s: %v", n, off, r.path, err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%d bytes at %d of %s differ from the source's", n, off, mnt)
	}
}

func s3MountArgs(origin, endpoint, mnt, cache string, extra ...string) []string {
	args := []string{"mount", "--cache", cache, "--fetch-timeout", s3FetchTimeout.String(), "--log-level", "info", "--s3-endpoint", endpoint}
	return append(append(args, extra...), origin, mnt)
}

// startS3Mount mounts origin with --s3-endpoint endpoint and extra flags,
// env added to the environment, and waits until it is ready.
func startS3Mount(t *testing.T, origin, endpoint string, env []string, extra ...string) *mount {
	t.Helper()
	mnt := newMountpoint(t)
	c := harness.Command{Path: fx.bin, Args: s3MountArgs(origin, endpoint, mnt, t.TempDir(), extra...), Env: env}
	hm, err := harness.StartMount(timeoutCtx(t, readyTimeout), c, mnt)
	if err != nil {
		t.Fatalf("piecefs mount %s: %v", origin, err)
	}
	m := &mount{proc: &proc{hm.Process}, dir: mnt, digest: hm.Digest}
	t.Cleanup(func() { m.cleanup(t) })
	return m
}

// s3MountFails runs a mount of origin that must fail within the fetch
// timeout, exit 1 and leave no mount; it returns the stderr.
func s3MountFails(t *testing.T, origin, endpoint string, env []string) string {
	t.Helper()
	mnt := newMountpoint(t)
	t.Cleanup(func() { unmount(t, mnt) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := harness.Run(ctx, harness.Command{Path: fx.bin, Args: s3MountArgs(origin, endpoint, mnt, t.TempDir()), Env: env})
	if p == nil {
		t.Fatalf("piecefs mount %s: %v", origin, err)
	}
	stderr := string(p.Stderr())
	elapsed := p.ExitTime().Sub(p.StartTime())
	switch {
	case err == nil:
		t.Fatalf("piecefs mount %s succeeded, want it to fail\nstdout: %q", origin, p.Lines())
	case p.ExitCode() != 1:
		t.Errorf("piecefs mount %s: %v, want exit status 1\nstderr: %s", origin, err, tail(p.Stderr()))
	case elapsed >= s3FetchTimeout:
		t.Errorf("piecefs mount %s failed after %v, want it within the fetch timeout %v: a refusal is not retried", origin, elapsed.Round(time.Millisecond), s3FetchTimeout)
	}
	if isMounted(t, mnt) {
		t.Errorf("failed piecefs mount left %s mounted", mnt)
	}
	if ls := lines(p.Stderr()); len(ls) > 0 {
		t.Logf("failed in %v as it should: %s", elapsed.Round(time.Millisecond), ls[len(ls)-1])
	}
	return stderr
}
