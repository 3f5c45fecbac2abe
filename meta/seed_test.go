package meta

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSeedCorpus keeps testdata/sample.json, the fuzz seed, in step with the
// format: it must decode, and equal sample().
func TestSeedCorpus(t *testing.T) {
	want, err := mustValidate(t, sample()).Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "sample.json")
	if os.Getenv("PIECEFS_UPDATE_TESTDATA") != "" {
		must(t, os.WriteFile(path, want, 0o644))
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s is stale; regenerate with PIECEFS_UPDATE_TESTDATA=1 go test ./meta", path)
	}
}
