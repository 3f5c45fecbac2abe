package main

import "testing"

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"65536", 65536, true},
		{"1KiB", 1024, true},
		{"256MiB", 256 << 20, true},
		{"1GiB", 1 << 30, true},
		{"2TiB", 2 << 40, true},
		{"4M", 4 << 20, true},
		{"1MB", 1e6, true},
		{" 8 MiB ", 8 << 20, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"-1", 0, false},
		{"1.5GiB", 0, false},
		{"1PiB", 0, false},
		{"9999999999TiB", 0, false},
		{"0x10", 0, false},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 1000: "1000", 4 << 20: "4MiB", 1 << 30: "1GiB", 1536: "1536"} {
		if got := formatSize(in); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "256MiB", "1GiB", "12KB", "x", "-5", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("parseSize(%q) = %d", s, n)
		}
		if err == nil {
			if back, err := parseSize(formatSize(n)); err != nil || back != n {
				t.Fatalf("formatSize(%d) = %q does not parse back: %d, %v", n, formatSize(n), back, err)
			}
		}
	})
}
