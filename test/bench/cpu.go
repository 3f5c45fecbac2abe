package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/prometheus/procfs"
)

// cpuTimes are the machine's CPU times from /proc/stat's "cpu" line (read
// by procfs, which the Prometheus client already brings), in seconds
// summed over every core.
type cpuTimes struct{ total, idle float64 }

func readCPU() (cpuTimes, error) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return cpuTimes{}, err
	}
	st, err := fs.Stat()
	if err != nil {
		return cpuTimes{}, fmt.Errorf("/proc/stat: %w", err)
	}
	c := st.CPUTotal
	// Guest and guest_nice time are counted in user and nice already.
	return cpuTimes{
		total: c.User + c.Nice + c.System + c.Idle + c.Iowait + c.IRQ + c.SoftIRQ + c.Steal,
		idle:  c.Idle + c.Iowait,
	}, nil
}

// busyCores is how many cores were busy on average from a to b: the
// machine's whole load, the reader's, the origin's and the kernel's.
func busyCores(a, b cpuTimes) float64 {
	total := b.total - a.total
	if total <= 0 {
		return 0
	}
	return (total - (b.idle - a.idle)) / total * float64(runtime.NumCPU())
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
