package publish

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckOutside(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	must(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	must(t, os.Symlink(filepath.Join(src, "sub"), filepath.Join(tmp, "to-sub")))
	must(t, os.Symlink(tmp, filepath.Join(src, "to-parent")))
	tests := []struct {
		out    string
		inside bool
	}{
		{src, true},
		{src + "/", true},
		{filepath.Join(src, "sub"), true},
		{filepath.Join(src, "new", "deeper"), true},
		{filepath.Join(tmp, "to-sub", "out"), true},
		{filepath.Join(src, "sub", "..", "x"), true},
		{src + "-out", false},
		{filepath.Join(tmp, "out"), false},
		{tmp, false}, // the source inside the output is not a loop: writes go to pieces/, manifests/, tags/
		{filepath.Join(src, "to-parent", "out"), false},
	}
	for _, tt := range tests {
		err := CheckOutside(src, tt.out)
		if got := err != nil && strings.Contains(err.Error(), "inside the source"); got != tt.inside || (!tt.inside && err != nil) {
			t.Errorf("CheckOutside(src, %s): %v; want inside %v", tt.out, err, tt.inside)
		}
	}
	if err := CheckOutside(filepath.Join(tmp, "missing"), tmp); err == nil {
		t.Error("CheckOutside with a missing source: got no error")
	}
}
