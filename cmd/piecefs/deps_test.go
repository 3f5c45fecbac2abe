package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection guards the one-way dependencies of DEVELOPERS.md.
func TestDependencyDirection(t *testing.T) {
	const mod = "github.com/piecefs/piecefs/"
	forbidden := map[string][]string{
		"meta":    {"cache", "store", "fetch", "piece", "fs", "origin", "publish", "cmd"},
		"cache":   {"store", "fetch", "piece", "fs", "origin", "publish", "cmd"},
		"store":   {"cache", "fetch", "piece", "fs", "origin", "publish", "cmd"},
		"fetch":   {"cache", "store", "piece", "fs", "origin", "publish", "cmd"},
		"piece":   {"cache", "store", "fetch", "fs", "origin", "publish", "cmd"},
		"fs":      {"cache", "store", "fetch", "piece", "origin", "publish", "cmd"},
		"origin":  {"cache", "store", "fetch", "piece", "fs", "publish", "cmd"},
		"publish": {"cache", "store", "fetch", "piece", "fs", "origin", "cmd"},
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", mod+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		for _, d := range deps {
			for _, b := range bad {
				if d == mod+b || strings.HasPrefix(d, mod+b+"/") {
					t.Errorf("%s imports %s", pkg, d)
				}
			}
			if pkg == "meta" && !strings.HasPrefix(d, mod) {
				t.Errorf("meta must use the standard library only; it imports %s", d)
			}
		}
	}
}
