package meta

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// BenchmarkDecodeFile decodes the manifest named by PIECEFS_MANIFEST (a real
// one: `piecefs import` writes one under <publication>/manifests/). "Decode"
// is Decode as a mount runs it; "json" is the encoding/json path it falls
// back to, with the same Validate: Decode before the fast path, for
// comparison in one run.
//
// Besides ns/op it reports cpu-ns/op, the process's CPU time (GC included)
// per decode, which a loaded machine disturbs less than the wall clock.
func BenchmarkDecodeFile(b *testing.B) {
	path := os.Getenv("PIECEFS_MANIFEST")
	if path == "" {
		b.Skip("PIECEFS_MANIFEST not set")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, ok := decodeCanonical(data); !ok {
		b.Fatalf("%s is not canonical: Decode takes the encoding/json path", path)
	}
	b.Run("Decode", func(b *testing.B) {
		benchDecode(b, data, Decode)
	})
	b.Run("json", func(b *testing.B) {
		benchDecode(b, data, func(data []byte) (*Manifest, error) {
			m, err := decodeJSON(data)
			if err == nil {
				err = m.Validate()
			}
			return m, err
		})
	})
}

func benchDecode(b *testing.B, data []byte, decode func([]byte) (*Manifest, error)) {
	b.SetBytes(int64(len(data)))
	start := cpuTime(b)
	for b.Loop() {
		if _, err := decode(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
