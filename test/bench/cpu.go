package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"
)

// cpuTimes are the machine's CPU times from /proc/stat's "cpu" line, in
// clock ticks summed over every core.
type cpuTimes struct{ total, idle uint64 }

func readCPU() (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var t cpuTimes
	for i, s := range f[1:] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("/proc/stat: %w", err)
		}
		// guest and guest_nice (fields 9 and 10) are counted in user and
		// nice already.
		if i < 8 {
			t.total += v
		}
		if i == 3 || i == 4 { // idle, iowait
			t.idle += v
		}
	}
	return t, nil
}

// busyCores is how many cores were busy on average from a to b: the
// machine's whole load, the reader's, the origin's and the kernel's.
func busyCores(a, b cpuTimes) float64 {
	total := b.total - a.total
	if total == 0 {
		return 0
	}
	return float64(total-(b.idle-a.idle)) / float64(total) * float64(runtime.NumCPU())
}

// withCPU wraps fn so that every run also adds to column c of r how many
// of the machine's cores were busy while it ran: when a read is as fast as
// the cores allow, this is the limit it meets, measured in the same run.
func withCPU(r *row, c column, fn measurement) measurement {
	return func(ctx context.Context, m *mount) (float64, error) {
		a, err := readCPU()
		if err != nil {
			return 0, err
		}
		v, err := fn(ctx, m)
		if err != nil {
			return v, err
		}
		b, err := readCPU()
		if err != nil {
			return v, err
		}
		r.add(c, busyCores(a, b), memUse{})
		return v, nil
	}
}

// processCPU is the user and system CPU time pid has used so far, from
// /proc/PID/stat (parsed by procfs, which the Prometheus client already
// brings): what the kernel accounts to it, to check a profile's total
// against.
func processCPU(pid int) (time.Duration, error) {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	st, err := p.Stat()
	if err != nil {
		return 0, fmt.Errorf("process %d: %w", pid, err)
	}
	return time.Duration(st.CPUTime() * float64(time.Second)), nil
}
