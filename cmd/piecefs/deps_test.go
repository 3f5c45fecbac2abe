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
		"image":   {"cache", "store", "fetch", "piece", "fs", "origin", "cmd"},
		"s3":      {}, // no piecefs package at all: see below
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
			if pkg == "s3" && strings.HasPrefix(d, mod) && d != mod+"s3" {
				t.Errorf("s3 must import no piecefs package; it imports %s", d)
			}
			if pkg == "meta" && !strings.HasPrefix(d, mod) {
				t.Errorf("meta must use the standard library only; it imports %s", d)
			}
		}
	}
}

// TestHarnessDependencies keeps internal/harness, which starts child
// processes for the demo, the e2e tests and the benchmark, apart from the
// file system: it imports nothing of piecefs, and only cmd/piecefs and test
// code (test/..., _test.go files) import it.
func TestHarnessDependencies(t *testing.T) {
	const mod = "github.com/piecefs/piecefs/"
	const harness = mod + "internal/harness"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", harness).Output()
	if err != nil {
		t.Fatalf("go list -deps internal/harness: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		if strings.HasPrefix(d, mod) && d != harness {
			t.Errorf("internal/harness imports %s", d)
		}
	}
	// Imports lists what a package's non-test files import; test files may
	// import the harness anywhere.
	out, err = exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list %s...: %v", mod, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, " ")
		if pkg == mod+"cmd/piecefs" || strings.HasPrefix(pkg, mod+"test/") {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if imp == harness {
				t.Errorf("%s imports internal/harness; only cmd/piecefs and test code may", pkg)
			}
		}
	}
}
