package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPinnedDigest mounts by --digest and by --tag, and checks that a
// digest the origin does not have is refused.
func TestPinnedDigest(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	other, otherOut := publishOther(t)

	t.Run("published", func(t *testing.T) {
		m := startMount(t, origin.URL(), t.TempDir(), "--digest", fx.digest)
		if m.digest != fx.digest {
			t.Errorf("mounted %s, want the pinned %s", m.digest, fx.digest)
		}
		compareHashes(t, m.dir, fx.tree.small[:5])
		m.Stop(t)
	})

	t.Run("unknown", func(t *testing.T) {
		stderr := mountFails(t, origin.URL(), t.TempDir(), "--digest", other)
		if hex := strings.TrimPrefix(other, "sha256:"); !strings.Contains(stderr, hex) {
			t.Errorf("the error does not name the digest %s:\n%s", other, tail([]byte(stderr)))
		}
	})

	t.Run("tag", func(t *testing.T) {
		m := startMount(t, newCountingOrigin(t, otherOut).URL(), t.TempDir(), "--tag", "v2")
		if m.digest != other {
			t.Errorf("--tag v2 mounted %s, want %s", m.digest, other)
		}
		if got := string(mustRun(t, m.dir, "cat", "hello.txt")); got != otherContent {
			t.Errorf("hello.txt: got %q, want %q", got, otherContent)
		}
		m.Stop(t)
	})
}

const otherContent = "another tree\n"

// publishOther publishes a one-file tree under the tag v2 and returns its
// digest and output directory.
func publishOther(t *testing.T) (digest, out string) {
	t.Helper()
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "hello.txt"), []byte(otherContent), 0o644); err != nil {
		t.Fatal(err)
	}
	out = filepath.Join(t.TempDir(), "out")
	digest, err := publish(fx.bin, src, out, "--tag", "v2")
	if err != nil {
		t.Fatal(err)
	}
	if digest == fx.digest {
		t.Fatalf("two different trees published as the same digest %s", digest)
	}
	tag, err := os.ReadFile(filepath.Join(out, "tags", "v2"))
	if err != nil || string(tag) != digest+"\n" {
		t.Fatalf("tags/v2: %q, %v; want %q", tag, err, digest+"\n")
	}
	return digest, out
}
