package main

import (
	"fmt"
	"strconv"
	"strings"
)

// units are the suffixes a size flag takes, longest first within a family.
var units = []struct {
	suffix string
	mult   int64
}{
	{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1},
}

// parseSize reads "65536", "64MiB", "2GiB" (binary units only: the sizes
// here are pieces and files, which people count in powers of two).
func parseSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional unit (KiB, MiB, GiB, TiB)", s)
	}
	return n * mult, nil
}

// formatSize prints n in the largest binary unit that keeps it whole.
func formatSize(n int64) string {
	for _, u := range units[:4] {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}

// humanSize prints n rounded in the largest binary unit it reaches.
func humanSize(n int64) string {
	for _, u := range units[:4] {
		if n >= u.mult {
			return fmt.Sprintf("%.1f %s", float64(n)/float64(u.mult), u.suffix)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// mib converts bytes to MiB.
func mib(n int64) float64 { return float64(n) / (1 << 20) }

// sizeFlag is a flag.Value for a byte count.
type sizeFlag int64

func (s *sizeFlag) String() string { return formatSize(int64(*s)) }

func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	*s = sizeFlag(n)
	return err
}
