package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
)

// TestSummarizeCPU builds a CPU profile with known stacks and checks that
// each sample lands in the bucket of its innermost frame that names a
// cost, inlined frames included, and that the shares add up.
func TestSummarizeCPU(t *testing.T) {
	const (
		fuse  = "github.com/hanwen/go-fuse/v2/fuse."
		store = "github.com/piecefs/piecefs/store."
	)
	// Each stack is innermost first; a "|" joins functions inlined into one
	// location, innermost first too.
	samples := []struct {
		ms    int64
		stack []string
		want  bucket
	}{
		// The store's hash of a completed piece, and a block's on arrival.
		{20, []string{"crypto/internal/fips140/sha256.blockSHANI", "crypto/internal/fips140/sha256.block",
			"crypto/sha256.Sum256", store + "hashFile"}, bucketSHA256},
		{10, []string{"crypto/internal/fips140/sha256.blockSHANI", "crypto/sha256.Sum256",
			"github.com/piecefs/piecefs/fetch.readBlocks"}, bucketSHA256},
		// A read(2) is the network's by its caller.
		{20, []string{"internal/runtime/syscall/linux.Syscall6", "syscall.RawSyscall6", "syscall.read",
			"internal/poll.(*FD).Read", "net.(*netFD).Read", "net.(*conn).Read", "bufio.(*Reader).Read"}, bucketNetRead},
		// A copy out of a bufio.Reader on a socket is a copy: the innermost
		// match wins over the net frames further out.
		{10, []string{"runtime.memmove", "bufio.(*Reader).Read", "net.(*netFD).Read"}, bucketCopy},
		{15, []string{"internal/runtime/syscall/linux.Syscall6", "syscall.pwrite|internal/poll.(*FD).Pwrite",
			"os.(*File).WriteAt", store + "(*Part).write"}, bucketDiskWrite},
		{5, []string{"internal/runtime/syscall/linux.Syscall6", "syscall.Fdatasync", "go.etcd.io/bbolt.fdatasync"}, bucketDiskWrite},
		// The store re-reading a piece to hash it whole.
		{4, []string{"internal/runtime/syscall/linux.Syscall6", "syscall.pread", "os.(*File).ReadAt",
			"io.(*SectionReader).Read", store + "hashFile"}, bucketDiskRead},
		// crc32 inlined into the store's function: Line[0] is innermost.
		{3, []string{"hash/crc32.castagnoliSSE42Triple", "hash/crc32.Update|" + store + "blockSum", "runtime.memmove"}, bucketChecksum},
		// A memmove inlined into a sha256 function is a copy.
		{2, []string{"runtime.memmove|crypto/internal/fips140/sha256.(*Digest).Write"}, bucketCopy},
		{6, []string{"internal/runtime/syscall/linux.Syscall6", "golang.org/x/sys/unix.writev", fuse + "writev",
			fuse + "(*fuseFD).writevFD", fuse + "(*Server).handleRequest", fuse + "(*Server).loop"}, bucketFUSE},
		{3, []string{"runtime.scanObjectSmall", "runtime.gcDrain", "runtime.gcBgMarkWorker"}, bucketGC},
		{1, []string{"runtime.futex", "runtime.notesleep", "runtime.stopm", "runtime.findRunnable", "runtime.schedule"}, bucketSched},
		// piecefs's own work under go-fuse's loop is not FUSE's: only
		// go-fuse's system calls are.
		{1, []string{"internal/runtime/maps.ctrlGroup.matchH2", "runtime.mapaccess2",
			"github.com/piecefs/piecefs/piece.(*Reader).readSlice", fuse + "(*Server).handleRequest", fuse + "(*Server).loop"}, bucketOther},
	}
	p := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		TimeNanos:     time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano(),
		DurationNanos: int64(3 * time.Second),
	}
	funcs := map[string]*profile.Function{}
	var want [numBuckets]time.Duration
	for _, s := range samples {
		smp := &profile.Sample{Value: []int64{s.ms / 10, s.ms * int64(time.Millisecond)}}
		for _, frame := range s.stack {
			loc := &profile.Location{ID: uint64(len(p.Location) + 1)}
			for _, name := range strings.Split(frame, "|") {
				f := funcs[name]
				if f == nil {
					f = &profile.Function{ID: uint64(len(p.Function) + 1), Name: name}
					funcs[name] = f
					p.Function = append(p.Function, f)
				}
				loc.Line = append(loc.Line, profile.Line{Function: f})
			}
			p.Location = append(p.Location, loc)
			smp.Location = append(smp.Location, loc)
		}
		p.Sample = append(p.Sample, smp)
		want[s.want] += time.Duration(s.ms) * time.Millisecond
	}
	if err := p.CheckValid(); err != nil {
		t.Fatalf("the synthetic profile is not valid: %v", err)
	}
	got, err := summarizeCPU(p)
	if err != nil {
		t.Fatal(err)
	}
	for b := range numBuckets {
		if got.by[b] != want[b] {
			t.Errorf("%s: %v, want %v", bucketName[b], got.by[b], want[b])
		}
	}
	if got.total != 100*time.Millisecond || got.duration != 3*time.Second || !got.start.Equal(time.Unix(0, p.TimeNanos)) {
		t.Errorf("total %v, duration %v, start %v; want 100ms, 3s, %v", got.total, got.duration, got.start, time.Unix(0, p.TimeNanos))
	}
	if got.storeSHA != 20*time.Millisecond {
		t.Errorf("sha256 under the store: %v, want 20ms", got.storeSHA)
	}
	const shares = "sha256 30%, disk writes 20%, network reads 20%, memory copies 12%, FUSE 6%, disk reads 4%, crc32 3%, allocation and GC 3%, scheduler 1%, other 1%"
	if s := got.shares(); s != shares {
		t.Errorf("shares:\n got %s\nwant %s", s, shares)
	}
}

// TestSummarizeCPUNotCPU checks that a profile of something else than CPU
// time is refused rather than read as one.
func TestSummarizeCPUNotCPU(t *testing.T) {
	p := &profile.Profile{SampleType: []*profile.ValueType{{Type: "alloc_space", Unit: "bytes"}}}
	if _, err := summarizeCPU(p); err == nil {
		t.Error("a heap profile was summarized as CPU time")
	}
}

// TestProgress checks the bytes read by a moment, between the records.
func TestProgress(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := progress{times: []time.Time{t0, t0.Add(time.Second), t0.Add(2 * time.Second)}, bytes: []int64{10, 30, 60}}
	for _, tt := range []struct {
		at   time.Duration
		want int64
	}{{-time.Millisecond, 0}, {0, 10}, {500 * time.Millisecond, 10}, {time.Second, 30}, {5 * time.Second, 60}} {
		if got := p.at(t0.Add(tt.at)); got != tt.want {
			t.Errorf("at(t0%+v) = %d, want %d", tt.at, got, tt.want)
		}
	}
}

// TestProcessCPU checks that the benchmark's own CPU time, read from
// /proc, grows by about what a busy loop burns.
func TestProcessCPU(t *testing.T) {
	a, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	start, x := time.Now(), 0
	for time.Since(start) < 300*time.Millisecond {
		x++
	}
	b, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// At least half the loop's time even on a busy machine; the clock
	// ticks are 10 ms.
	if d := b - a; d < 150*time.Millisecond {
		t.Errorf("a 300 ms busy loop added %v of CPU time (%d turns)", d, x)
	}
}
