package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// rssInterval is how often the mount's resident set is sampled.
const rssInterval = 50 * time.Millisecond

// memUse is what a process used during a measurement, in bytes.
type memUse struct {
	peakRSS int64 // the largest VmRSS sampled
	hwm     int64 // VmHWM when the measurement ended: the process's peak so far
}

func (a memUse) max(b memUse) memUse {
	return memUse{peakRSS: max(a.peakRSS, b.peakRSS), hwm: max(a.hwm, b.hwm)}
}

// rssWatch samples a process's VmRSS until finish.
type rssWatch struct {
	pid  int
	quit chan struct{}
	done chan struct{}
	peak int64 // written by the sampler; read after done is closed
}

// watchRSS starts sampling pid's VmRSS.
func watchRSS(pid int) *rssWatch {
	w := &rssWatch{pid: pid, quit: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

func (w *rssWatch) loop() {
	defer close(w.done)
	t := time.NewTicker(rssInterval)
	defer t.Stop()
	for {
		if st, err := procStatus(w.pid); err == nil {
			w.peak = max(w.peak, st["VmRSS"])
		}
		select {
		case <-w.quit:
			return
		case <-t.C:
		}
	}
}

// finish stops sampling and returns the peak, with VmHWM read last.
func (w *rssWatch) finish() memUse {
	close(w.quit)
	<-w.done
	u := memUse{peakRSS: w.peak}
	if st, err := procStatus(w.pid); err == nil {
		u.peakRSS = max(u.peakRSS, st["VmRSS"])
		u.hwm = st["VmHWM"]
	}
	return u
}

// procStatus reads the "kB" fields of /proc/PID/status, in bytes.
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		fields := strings.Fields(v)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			out[k] = n << 10
		}
	}
	return out, s.Err()
}
