package main

import (
	"context"
	"crypto/sha256"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/origin"
)

//go:embed sample
var sample embed.FS

func setupDemo(fs *flag.FlagSet) func([]string) error {
	keep := fs.Bool("keep", false, "keep the demo's temporary directory")
	modelSize := sizeFlag(64 << 20)
	fs.Var(&modelSize, "model-size", "size of the generated model.bin")
	return func(args []string) error {
		if err := wantArgs(args); err != nil {
			return err
		}
		dir, err := os.MkdirTemp("", "piecefs-demo-")
		if err != nil {
			return err
		}
		if !*keep {
			defer os.RemoveAll(dir)
		}
		return demo(dir, int64(modelSize))
	}
}

// demo is the whole life of a piecefs tree in one command: publish, serve,
// mount, read back, unmount. Every step is the real one; only the content
// is made up.
func demo(dir string, modelSize int64) error {
	src, out := filepath.Join(dir, "src"), filepath.Join(dir, "origin")
	n, size, err := writeSample(src, modelSize)
	if err != nil {
		return err
	}
	d, err := publish(context.Background(), src, out, meta.DefaultPieceSize, "latest", nil)
	if err != nil {
		return err
	}
	fmt.Printf("1. published %d files (%s) from %s as %s\n", n, formatBytes(size), src, d)
	url, requests, stop, err := demoOrigin(out)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Printf("2. serving %s at %s\n", out, url)
	mnt := filepath.Join(dir, "mnt")
	child, err := startMount(url, mnt, filepath.Join(dir, "cache"))
	if err != nil {
		return err
	}
	fmt.Printf("3. mounted at %s\n", mnt)
	start := time.Now()
	verified, bytes, readErr := compareTrees(src, mnt)
	elapsed := time.Since(start)
	// Unmount the way a service manager would: SIGTERM, then wait.
	if err := child.Stop(context.Background(), demoTimeout); err != nil {
		return errors.Join(readErr, fmt.Errorf("unmount: %w", err))
	}
	if readErr != nil {
		return readErr
	}
	fmt.Printf("4. read %d files (%s) through the mount in %v (%.0f MB/s), every byte equal to the source; %d piece requests to the origin\n",
		verified, formatBytes(bytes), elapsed.Round(time.Millisecond), float64(bytes)/elapsed.Seconds()/1e6, requests.Load())
	fmt.Println("5. unmounted cleanly")
	return nil
}

// writeSample copies the embedded sample tree to dir and adds model.bin,
// pseudo-random so that it neither compresses nor deduplicates.
func writeSample(dir string, modelSize int64) (files int, size int64, err error) {
	sub, err := fs.Sub(sample, "sample")
	if err != nil {
		return 0, 0, err
	}
	if err := os.CopyFS(dir, sub); err != nil {
		return 0, 0, fmt.Errorf("write sample: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "model.bin"))
	if err != nil {
		return 0, 0, err
	}
	rng := rand.NewChaCha8([32]byte{'p', 'i', 'e', 'c', 'e', 'f', 's'})
	if _, err := io.CopyN(f, rng, modelSize); err != nil {
		f.Close()
		return 0, 0, err
	}
	if err := f.Close(); err != nil {
		return 0, 0, err
	}
	err = filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() {
			return err
		}
		fi, err := de.Info()
		files, size = files+1, size+fi.Size()
		return err
	})
	return files, size, err
}

// demoOrigin serves out on a free loopback port, counting piece requests.
func demoOrigin(out string) (string, *atomic.Int64, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	var requests atomic.Int64
	h := origin.Handler(out, nil)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/pieces/") {
			requests.Add(1)
		}
		h.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), &requests, func() { srv.Close() }, nil
}

// demoTimeout bounds how long the mount may take to be ready, and to exit
// after SIGTERM.
const demoTimeout = 30 * time.Second

// startMount mounts url on mnt in a `piecefs mount` child: the demo mounts
// in a process of its own, as a user would, and so that reading the mount
// from this process cannot deadlock against the FUSE server. The child's
// warnings go to the demo's stderr.
func startMount(url, mnt, cacheDir string) (*harness.Mount, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
	defer cancel()
	return harness.StartMount(ctx, harness.Command{
		Path:   exe,
		Args:   []string{"mount", "--cache", cacheDir, "--log-level", "warn", url, mnt},
		Stderr: os.Stderr,
	}, mnt)
}

// compareTrees reads every regular file of src and its twin under mnt and
// fails at the first difference.
func compareTrees(src, mnt string) (files int, size int64, err error) {
	err = filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		want, _, err := hashFile(p)
		if err != nil {
			return err
		}
		got, n, err := hashFile(filepath.Join(mnt, rel))
		if err != nil {
			return fmt.Errorf("read through the mount: %w", err)
		}
		if got != want {
			return fmt.Errorf("%s differs between the source and the mount", rel)
		}
		files, size = files+1, size+n
		return nil
	})
	return files, size, err
}

func hashFile(p string) ([sha256.Size]byte, int64, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(p)
	if err != nil {
		return sum, 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	copy(sum[:], h.Sum(nil))
	return sum, n, err
}
