package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"golang.org/x/sys/unix"
)

// fixture is what TestMain prepares once for every test: the binary and
// the shared tree, published.
type fixture struct {
	bin    string // the piecefs binary
	tmp    string // the package's temporary directory
	tree   *tree
	out    string // publish output: the document root of every origin
	digest string // the digest publish printed, "sha256:<hex>"
}

var fx *fixture

// digestLine is publish's whole stdout.
var digestLine = regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	base, err := xattrTempBase()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	tmp, err := os.MkdirTemp(base, "piecefs-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if fx, err = setup(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
		return 1
	}
	return m.Run()
}

func setup(tmp string) (*fixture, error) {
	f := &fixture{tmp: tmp, bin: filepath.Join(tmp, "piecefs"), out: filepath.Join(tmp, "out")}
	build := exec.Command("go", "build", "-o", f.bin, "github.com/piecefs/piecefs/cmd/piecefs")
	if b, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/piecefs: %w\n%s", err, b)
	}
	src := filepath.Join(tmp, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		return nil, err
	}
	t, err := generateTree(src)
	if err != nil {
		return nil, fmt.Errorf("generate the tree: %w", err)
	}
	f.tree = t
	f.digest, err = publish(f.bin, src, f.out, "--piece-size", "1MiB")
	return f, err
}

// publish runs piecefs publish and returns the digest it printed.
func publish(bin, src, out string, flags ...string) (string, error) {
	args := append(append([]string{"publish"}, flags...), src, out)
	o := runTool(toolTimeout, "", bin, args...)
	if o.err != nil {
		return "", fmt.Errorf("piecefs %v: %w\nstderr: %s", args, o.err, tail(o.stderr))
	}
	if !digestLine.Match(o.stdout) {
		return "", fmt.Errorf("piecefs %v: stdout %q, want exactly one line sha256:<64 hex>", args, o.stdout)
	}
	return string(o.stdout[:len(o.stdout)-1]), nil
}

// xattrTempBase returns a directory for the shared tree whose file system
// takes user xattrs: the usual temporary directory (tmpfs refuses them on
// older kernels), else /var/tmp.
func xattrTempBase() (string, error) {
	var errs []error
	for _, dir := range []string{os.TempDir(), "/var/tmp"} {
		err := probeUserXattr(dir)
		if err == nil {
			return dir, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("no temporary directory takes user xattrs: %w", errors.Join(errs...))
}

func probeUserXattr(dir string) error {
	f, err := os.CreateTemp(dir, "xattr-probe-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := unix.Fsetxattr(int(f.Fd()), xattrName, []byte("x"), 0); err != nil {
		return fmt.Errorf("setxattr in %s: %w", dir, err)
	}
	return nil
}
