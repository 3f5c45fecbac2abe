package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"

	"github.com/piecefs/piecefs/internal/harness"
)

// The profiled cold read: where the CPU of a cold sequential read goes.
//
// The cold sequential read keeps the machine's cores nearly all busy (the
// busy-cores row), so what it costs per byte in CPU, and on what, is the
// limit it meets. One extra cold read, on a mount started with
// --debug-addr, is profiled with Go's CPU profiler (SIGPROF at 100 Hz: user
// and kernel time of the mount process, each sample with its stack), and
// every sample is put in one bucket of cost by its stack. That run is not
// one of the measured runs, so the profiler costs the measured rows
// nothing.

// bucket is one kind of CPU cost of serving a byte.
type bucket int

const (
	bucketSHA256 bucket = iota
	bucketChecksum
	bucketDiskWrite
	bucketDiskRead
	bucketNetRead
	bucketFUSE
	bucketCopy
	bucketGC
	bucketSched
	bucketOther
	numBuckets
)

var bucketName = [numBuckets]string{
	bucketSHA256:    "sha256",
	bucketChecksum:  "crc32",
	bucketDiskWrite: "disk writes",
	bucketDiskRead:  "disk reads",
	bucketNetRead:   "network reads",
	bucketFUSE:      "FUSE",
	bucketCopy:      "memory copies",
	bucketGC:        "allocation and GC",
	bucketSched:     "scheduler",
	bucketOther:     "other",
}

// bucketRules map function-name prefixes to buckets. A sample goes to the
// bucket of the innermost frame that matches (inlined frames included), so
// that each sample counts once and by what it was doing: a system call is
// named by the os or net function that made it (a read(2) is a socket's or
// a file's only by its caller), and a memmove is a copy whoever called it.
// They were chosen from `go tool pprof -traces` of a real cold read.
var bucketRules = []struct {
	b        bucket
	prefixes []string
}{
	{bucketSHA256, []string{"crypto/sha256.", "crypto/internal/fips140/sha256."}},
	{bucketChecksum, []string{"hash/crc32."}},
	// The store's pieces, blocks and database (bbolt writes with pwrite
	// and fdatasync): the data written and made durable, and the files
	// and directories made for them.
	{bucketDiskWrite, []string{"os.(*File).Write", "os.(*File).Sync", "os.(*File).Truncate", "syscall.Fsync",
		"syscall.Fdatasync", "os.rename", "os.Rename", "os.Mkdir", "os.OpenFile", "os.Create"}},
	// The store reading a piece back, e.g. to hash it whole.
	{bucketDiskRead, []string{"os.(*File).Read", "os.(*File).Seek"}},
	{bucketNetRead, []string{"net.(*netFD).Read"}},
	// go-fuse's own system calls on /dev/fuse: requests read, replies
	// written (writev) or spliced.
	{bucketFUSE, []string{"github.com/hanwen/go-fuse/v2/fuse.(*fuseFD).", "github.com/hanwen/go-fuse/v2/fuse.writev",
		"github.com/hanwen/go-fuse/v2/splice."}},
	{bucketCopy, []string{"runtime.memmove", "runtime.memclr"}},
	{bucketGC, []string{"runtime.mallocgc", "runtime.gc", "runtime.bgsweep", "runtime.bgscavenge", "runtime.scanobject",
		"runtime.scanObject", "runtime.markroot", "runtime.sweepone", "runtime.(*mheap).", "runtime.(*mcache).",
		"runtime.(*mcentral).", "runtime.(*gcWork).", "runtime.greyobject", "runtime.wbBuf", "runtime.bulkBarrier"}},
	// Goroutines parked and woken: the hand-offs between the fetch, the
	// store and the FUSE handlers.
	{bucketSched, []string{"runtime.schedule", "runtime.findRunnable", "runtime.park_m", "runtime.goready",
		"runtime.ready", "runtime.netpoll", "runtime.futex", "runtime.notewakeup", "runtime.notesleep", "runtime.wakep",
		"runtime.startm", "runtime.stopm", "runtime.stealWork", "runtime.mcall", "runtime.gopark", "runtime.usleep",
		"runtime.osyield"}},
}

// classify returns the bucket of a stack, innermost frame first.
func classify(stack []string) bucket {
	for _, fn := range stack {
		for _, r := range bucketRules {
			for _, p := range r.prefixes {
				if strings.HasPrefix(fn, p) {
					return r.b
				}
			}
		}
	}
	return bucketOther
}

// cpuProfile is a CPU profile summed by bucket.
type cpuProfile struct {
	start    time.Time
	duration time.Duration
	total    time.Duration
	by       [numBuckets]time.Duration
	// storeSHA is the part of by[bucketSHA256] under the store's frames:
	// its hashes of whole pieces against their digests, a second pass
	// over bytes whose blocks were hashed as they arrived, which a piece
	// trusted on its block table no longer takes.
	storeSHA time.Duration
}

// summarizeCPU sums the CPU time of p's samples by bucket.
func summarizeCPU(p *profile.Profile) (cpuProfile, error) {
	idx := slices.IndexFunc(p.SampleType, func(t *profile.ValueType) bool { return t.Type == "cpu" })
	if idx < 0 {
		return cpuProfile{}, fmt.Errorf("not a CPU profile: no cpu sample type")
	}
	unit := time.Duration(1)
	switch p.SampleType[idx].Unit {
	case "nanoseconds":
	case "microseconds":
		unit = time.Microsecond
	case "milliseconds":
		unit = time.Millisecond
	default:
		return cpuProfile{}, fmt.Errorf("CPU profile in %q, want nanoseconds", p.SampleType[idx].Unit)
	}
	s := cpuProfile{start: time.Unix(0, p.TimeNanos), duration: time.Duration(p.DurationNanos)}
	var stack []string
	for _, smp := range p.Sample {
		stack = stack[:0]
		for _, loc := range smp.Location {
			// Line[0] is the innermost of the functions inlined at loc.
			for _, l := range loc.Line {
				if l.Function != nil {
					stack = append(stack, l.Function.Name)
				}
			}
		}
		v := time.Duration(smp.Value[idx]) * unit
		b := classify(stack)
		s.by[b] += v
		s.total += v
		if b == bucketSHA256 && slices.ContainsFunc(stack, func(fn string) bool {
			return strings.HasPrefix(fn, "github.com/piecefs/piecefs/store.")
		}) {
			s.storeSHA += v
		}
	}
	return s, nil
}

// shares lists the buckets that took any CPU, largest first, as
// "sha256 27%, disk writes 18%, …".
func (s cpuProfile) shares() string {
	order := make([]bucket, 0, numBuckets)
	for b := range numBuckets {
		if s.by[b] > 0 {
			order = append(order, b)
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return s.by[order[i]] > s.by[order[j]] })
	parts := make([]string, len(order))
	for i, b := range order {
		parts[i] = fmt.Sprintf("%s %.0f%%", bucketName[b], s.share(b)*100)
	}
	return strings.Join(parts, ", ")
}

// share is bucket b's fraction of the profile's CPU time.
func (s cpuProfile) share(b bucket) float64 {
	if s.total == 0 {
		return 0
	}
	return float64(s.by[b]) / float64(s.total)
}

// progress records when a sequential read had read how much: readSeq
// writes every buffer it reads into it.
type progress struct {
	times []time.Time
	bytes []int64 // read by times[i]
}

func (p *progress) Write(b []byte) (int, error) {
	n := int64(len(b))
	if k := len(p.bytes); k > 0 {
		n += p.bytes[k-1]
	}
	p.times, p.bytes = append(p.times, time.Now()), append(p.bytes, n)
	return len(b), nil
}

// at is how many bytes had been read by t.
func (p *progress) at(t time.Time) int64 {
	i := sort.Search(len(p.times), func(i int) bool { return p.times[i].After(t) })
	if i == 0 {
		return 0
	}
	return p.bytes[i-1]
}

// profiledRead is what the profiled cold read found.
type profiledRead struct {
	prof    cpuProfile
	seconds int           // the profile's requested length
	window  time.Duration // the part of the read the profile spans
	bytes   int64         // served to the reader in that window
	read    time.Duration // the whole read
	busy    float64       // the machine's busy cores during the read
	procCPU time.Duration // the mount's CPU during the read, from /proc
	sha256  float64       // MiB/s of crypto/sha256 on one core, in-process
	saved   string        // the raw profile, kept with -keep
	// missed, when not "", says why the profile says nothing of the read:
	// a read too short for the profiler's 10 ms samples.
	missed string
}

// cores is the mount's CPU time over the window: how many cores it kept
// busy. CPU spent after the read (pieces still being written) counts too,
// when the profile outlasts the read.
func (r *profiledRead) cores() float64 { return r.prof.total.Seconds() / r.window.Seconds() }

// mibps is what the reader was served in the window.
func (r *profiledRead) mibps() float64 { return mib(r.bytes) / r.window.Seconds() }

// coreMsPerMiB is the mount's CPU cost of a MiB served.
func (r *profiledRead) coreMsPerMiB() float64 { return ms(r.prof.total) / mib(r.bytes) }

// profileSuite reads the big file once more on a fresh cold piecefs mount
// started with --debug-addr, while fetching a CPU profile of the mount
// process that spans the read, and fills the profiled rows. It runs after
// the measured cold reads, whose median sizes the profile: 90% of the
// expected read, so that the profile sees the read in its steady state.
func (b *bench) profileSuite(ctx context.Context, t *table) error {
	seconds := 1 // the least the endpoint takes
	if e := 0.9 * mib(b.data.bigSize) / t.coldSeq.median(colPiecefs); e >= 2 && e < 3600 {
		seconds = int(e)
	}
	ports, err := harness.FreePorts(1)
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	s := *b.piecefs
	s.debugAddr = addr
	r := &profiledRead{seconds: seconds}
	if _, _, err := b.onMount(ctx, &s, true, b.readProfiled(addr, r)); err != nil {
		return fmt.Errorf("profiled cold read: %w", err)
	}
	if r.missed != "" {
		b.note("no profiled cold read rows: %s", r.missed)
		return nil
	}
	r.sha256 = sha256Rate()
	t.profCPU.add(colPiecefs, r.cores(), memUse{})
	t.profCPU.add(colBase, r.busy, memUse{})
	t.profSHA.add(colPiecefs, r.mibps(), memUse{})
	t.profSHA.add(colBase, r.sha256, memUse{})
	kept := ""
	if b.cfg.keep {
		kept = "; the profile is kept in " + r.saved
	}
	// The machine's cost per MiB is what its cores allow: the mount's
	// share of it is what piecefs could change.
	readMiBps := mibps(b.data.bigSize, r.read)
	machine := r.busy * 1000 / readMiBps
	n := runtime.NumCPU()
	t.profCPU.note = fmt.Sprintf("one extra cold read (not a measured run: the profiler stays off during those) on a mount with --debug-addr, "+
		"/debug/pprof/profile?seconds=%d from the read's start: %.2f s of the mount's CPU in %.2f s of the read (/proc/PID/stat: %.2f cores over the whole read), %s served: "+
		"%.1f core-ms/MiB by the mount, %.1f by the whole machine (%.2f cores busy at %.0f MiB/s: the mount, the reader, the kernel's FUSE and page-cache work, nginx, other load), "+
		"so %d cores allow at most %.0f MiB/s (%.0f at the mount's cost alone); the mount's CPU by the innermost frame of each sample's stack that names a cost: %s%s",
		r.seconds, r.prof.total.Seconds(), r.window.Seconds(), r.procCPU.Seconds()/r.read.Seconds(), formatSize(r.bytes),
		r.coreMsPerMiB(), machine, r.busy, readMiBps,
		n, float64(n)*1000/machine, float64(n)*1000/r.coreMsPerMiB(), r.prof.shares(), kept)
	shaCores := r.prof.share(bucketSHA256) * r.cores()
	storeCores := 0.0
	if r.prof.total > 0 {
		storeCores = float64(r.prof.storeSHA) / float64(r.prof.total) * r.cores()
	}
	onePass := r.mibps() / r.sha256
	t.profSHA.note = fmt.Sprintf("crypto/sha256 over a 64 MiB buffer in this process, best of 3: %.0f MiB/s on one core; "+
		"at %.0f MiB/s served, one sha256 pass over every byte needs %.2f cores at that speed; the mount hashes each block as it arrives, and the store hashes a piece whole only when it must "+
		"(a piece without a block table put together from several writers, a reader of another table: see store's doc); "+
		"the profile shows sha256 taking %.2f cores (%.2f for the blocks, %.2f in the store): %.1f× what one pass costs on an otherwise idle core",
		r.sha256, r.mibps(), onePass, shaCores, shaCores-storeCores, storeCores, shaCores/onePass)
	b.prof = r
	return nil
}

// readProfiled reads the big file while the mount at addr profiles itself,
// and fills r.
func (b *bench) readProfiled(addr string, r *profiledRead) measurement {
	return func(ctx context.Context, m *mount) (float64, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		sent := make(chan struct{})
		type result struct {
			p   *profile.Profile
			err error
		}
		got := make(chan result, 1)
		go func() {
			p, err := fetchProfile(ctx, addr, r.seconds, sent)
			got <- result{p, err}
		}()
		// Once the request is written the handler starts the profiler at
		// once; the window below is cut from the profile's own start time.
		select {
		case <-sent:
		case res := <-got:
			return 0, res.err
		}
		a, err := readCPU()
		if err != nil {
			return 0, err
		}
		pa, err := processCPU(m.PID())
		if err != nil {
			return 0, err
		}
		var prog progress
		start := time.Now()
		d, err := readSeq(ctx, m.path(bigName), b.data.bigSize, &prog)
		if err != nil {
			return 0, err
		}
		end := start.Add(d)
		pc, err := processCPU(m.PID())
		if err != nil {
			return 0, err
		}
		c, err := readCPU()
		if err != nil {
			return 0, err
		}
		r.read, r.busy, r.procCPU = d, busyCores(a, c), pc-pa
		res := <-got
		if res.err != nil {
			return 0, res.err
		}
		r.saved = filepath.Join(b.tmp, "cold-seq.pprof")
		if err := saveProfile(r.saved, res.p); err != nil {
			return 0, err
		}
		if r.prof, err = summarizeCPU(res.p); err != nil {
			return 0, err
		}
		pEnd := r.prof.start.Add(r.prof.duration)
		r.window = minTime(pEnd, end).Sub(maxTime(r.prof.start, start))
		r.bytes = prog.at(pEnd) - prog.at(r.prof.start)
		if r.window <= 0 || r.bytes <= 0 || r.prof.total <= 0 {
			r.missed = fmt.Sprintf("the profile (%v from %s, %v of CPU) missed the read (%v from %s)",
				r.prof.duration, r.prof.start.Format(time.StampMicro), r.prof.total, d, start.Format(time.StampMicro))
		}
		return mibps(b.data.bigSize, d), nil
	}
}

// fetchProfile asks the mount's debug server at addr for a CPU profile of
// seconds, closing sent once the request is written, and parses it.
func fetchProfile(ctx context.Context, addr string, seconds int, sent chan<- struct{}) (*profile.Profile, error) {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds)
	var once sync.Once
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(sent) }) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch the CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch the CPU profile: %s", resp.Status)
	}
	p, err := profile.Parse(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse the CPU profile: %w", err)
	}
	return p, nil
}

// saveProfile writes p to path, for `go tool pprof` after a -keep run.
func saveProfile(path string, p *profile.Profile) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("save the CPU profile: %w", err)
	}
	if err := p.Write(f); err != nil {
		f.Close()
		return fmt.Errorf("save the CPU profile: %w", err)
	}
	return f.Close()
}

// sha256Rate is how fast crypto/sha256 hashes on one core here, in MiB/s:
// the best of 3 passes over a 64 MiB buffer, the least disturbed by other
// work on the machine.
func sha256Rate() float64 {
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	best := time.Duration(0)
	for range 3 {
		start := time.Now()
		sha256Sink = sha256.Sum256(buf)
		d := time.Since(start)
		if best == 0 || d < best {
			best = d
		}
	}
	return mibps(int64(len(buf)), best)
}

// sha256Sink keeps sha256Rate's hashes from being optimized away.
var sha256Sink [sha256.Size]byte

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// jsonProfile is the profiled cold read in the -json file.
type jsonProfile struct {
	ProfileSeconds int                `json:"profileSeconds"` // asked of /debug/pprof/profile
	WindowSeconds  float64            `json:"windowSeconds"`  // of the read, inside the profile
	ServedMiB      float64            `json:"servedMiB"`      // to the reader in the window
	CPUSeconds     float64            `json:"cpuSeconds"`     // the mount's, in the profile
	Cores          float64            `json:"cores"`
	BusyCores      float64            `json:"busyCores"`      // the whole machine's, during the read
	ReadSeconds    float64            `json:"readSeconds"`    // the whole read
	ProcCPUSeconds float64            `json:"procCpuSeconds"` // the mount's, during the whole read, from /proc
	CoreMsPerMiB   float64            `json:"coreMsPerMiB"`
	SHA256MiBps    float64            `json:"sha256MiBps"` // one core, in-process
	BucketSeconds  map[string]float64 `json:"bucketCpuSeconds"`
}

func (r *profiledRead) toJSON() *jsonProfile {
	j := &jsonProfile{ProfileSeconds: r.seconds, WindowSeconds: r.window.Seconds(), ServedMiB: mib(r.bytes),
		CPUSeconds: r.prof.total.Seconds(), Cores: r.cores(), BusyCores: r.busy, CoreMsPerMiB: r.coreMsPerMiB(),
		ReadSeconds: r.read.Seconds(), ProcCPUSeconds: r.procCPU.Seconds(), SHA256MiBps: r.sha256, BucketSeconds: map[string]float64{}}
	for b := range numBuckets {
		j.BucketSeconds[bucketName[b]] = r.prof.by[b].Seconds()
	}
	return j
}
