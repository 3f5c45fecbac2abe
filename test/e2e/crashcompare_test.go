package e2e

import (
	"bytes"
	"testing"
)

// TestCrashCompare checks the writer the readers' output goes through: a
// checker that cannot fail would make every reader check pass.
func TestCrashCompare(t *testing.T) {
	src := bytes.NewReader([]byte("0123456789"))
	tests := []struct {
		name    string
		off     int64
		writes  []string
		wantBad int64
	}{
		{"equal", 0, []string{"012", "3456789"}, -1},
		{"equal-from-offset", 4, []string{"45", "6"}, -1},
		{"differs-in-second-write", 0, []string{"0123", "4x6"}, 5},
		{"differs-at-first-byte", 2, []string{"x"}, 2},
		{"past-the-end", 8, []string{"89", "!"}, 10},
		{"first-difference-kept", 0, []string{"x1", "2y"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &crashCompare{src: src, off: tt.off, bad: -1}
			var want int64
			for _, w := range tt.writes {
				if n, err := c.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
				}
				want += int64(len(w))
			}
			if n, bad := c.result(); n != want || bad != tt.wantBad {
				t.Errorf("result() = %d, %d; want %d, %d", n, bad, want, tt.wantBad)
			}
		})
	}
}
