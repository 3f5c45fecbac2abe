package publish

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestBuildLeavesOutSockets(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "f"), []byte("x"))
	ln, err := net.Listen("unix", filepath.Join(src, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var warned []string
	m, err := Build(context.Background(), src, memSink{}, Options{Warn: func(p, why string) { warned = append(warned, p) }})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if _, ok := m.Lookup("sock"); ok {
		t.Error("the socket is in the manifest")
	}
	if _, ok := m.Lookup("f"); !ok {
		t.Error("the file beside the socket is missing")
	}
	if len(warned) != 1 || warned[0] != "sock" {
		t.Errorf("warnings %v, want one for sock", warned)
	}
}

// TestBuildLeavesOutHardlinkedSocket gives a socket two names: the second
// must be left out like the first, not become a hardlink to an entry that
// is not in the manifest.
func TestBuildLeavesOutHardlinkedSocket(t *testing.T) {
	src := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(src, "a-sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	must(t, os.Link(filepath.Join(src, "a-sock"), filepath.Join(src, "b-link")))
	var warned []string
	m, err := Build(context.Background(), src, memSink{}, Options{Warn: func(p, why string) { warned = append(warned, p) }})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	for _, p := range []string{"a-sock", "b-link"} {
		if _, ok := m.Lookup(p); ok {
			t.Errorf("%s is in the manifest", p)
		}
	}
	if want := []string{"a-sock", "b-link"}; !slices.Equal(warned, want) {
		t.Errorf("warnings %v, want %v", warned, want)
	}
}

// TestBuildDetectsChangingFile appends to a file for as long as the build
// runs: whatever moment the build reads it at, the bytes it read were never
// the whole file, and it must say so rather than publish them.
func TestBuildDetectsChangingFile(t *testing.T) {
	src := t.TempDir()
	path := filepath.Join(src, "growing")
	writeFile(t, path, randBytes(8<<20))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				f.Write([]byte("more"))
			}
		}
	}()
	_, err = Build(context.Background(), src, memSink{}, Options{PieceSize: 1 << 20})
	close(stop)
	wg.Wait()
	if !errors.Is(err, errChanged) || !strings.Contains(err.Error(), "growing") {
		t.Fatalf("Build of a growing file: %v; want an error naming it and saying it changed", err)
	}
}
