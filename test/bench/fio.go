package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// randomBlock is the size of a random read.
const randomBlock = 4 << 10

// randResult is one random-read run.
type randResult struct {
	iops float64
	p99  time.Duration // completion latency
}

// randomRead runs random reads of bs bytes of the file at path for runtime
// at queue depth depth: fio when installed, else the Go pread loop.
func (b *bench) randomRead(ctx context.Context, path string, depth int, bs int64) (randResult, error) {
	if b.tools.fio == "" {
		return goRandomRead(ctx, path, depth, bs, b.cfg.fioRuntime)
	}
	return fioRandomRead(ctx, b.tools.fio, path, depth, bs, b.cfg.fioRuntime)
}

// fioRandomRead runs fio through the page cache (--direct=0). Buffered
// reads complete synchronously even under libaio, so depth d is d psync
// jobs reading at once, reported as one group.
func fioRandomRead(ctx context.Context, fio, path string, depth int, bs int64, runtime time.Duration) (randResult, error) {
	var out bytes.Buffer
	_, err := timeCmd(ctx, &out, nil, fio, "--name=r", "--filename="+path, "--readonly",
		"--rw=randread", "--bs="+strconv.FormatInt(bs, 10), "--ioengine=psync", "--iodepth=1", "--numjobs="+strconv.Itoa(depth),
		"--group_reporting", "--direct=0", "--invalidate=0", "--norandommap",
		fmt.Sprintf("--runtime=%dms", runtime.Milliseconds()), "--time_based", "--output-format=json")
	if err != nil {
		return randResult{}, err
	}
	return parseFio(out.Bytes())
}

// fioReport is the part of fio's JSON output that is used.
type fioReport struct {
	Jobs []struct {
		Error int `json:"error"`
		Read  struct {
			IOPS  float64 `json:"iops"`
			ClatN struct {
				Percentile map[string]float64 `json:"percentile"`
			} `json:"clat_ns"`
		} `json:"read"`
	} `json:"jobs"`
}

func parseFio(b []byte) (randResult, error) {
	// fio may print notes before the JSON document.
	if i := bytes.IndexByte(b, '{'); i > 0 {
		b = b[i:]
	}
	var r fioReport
	if err := json.Unmarshal(b, &r); err != nil {
		return randResult{}, fmt.Errorf("fio output: %w", err)
	}
	if len(r.Jobs) != 1 {
		return randResult{}, fmt.Errorf("fio output: %d job groups, want 1", len(r.Jobs))
	}
	j := r.Jobs[0]
	if j.Error != 0 || j.Read.IOPS <= 0 {
		return randResult{}, fmt.Errorf("fio: job error %d, %.0f IOPS", j.Error, j.Read.IOPS)
	}
	p99 := time.Duration(j.Read.ClatN.Percentile["99.000000"])
	return randResult{iops: j.Read.IOPS, p99: p99}, nil
}
