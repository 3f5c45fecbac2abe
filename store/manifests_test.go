package store

import (
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

func TestManifestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	data := []byte(`{"version":1}`)
	d := meta.Sum(data)
	if err := s.SaveManifest("https://a.example", "latest", d, data); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{})
	got, err := s.LoadManifest(d)
	if err != nil || string(got) != string(data) {
		t.Errorf("LoadManifest = %q, %v; want %q, nil", got, err, data)
	}
	if !recorded(t, s, BucketManifests, d) {
		t.Errorf("bucket %s has no record for %s", BucketManifests, d)
	}
	if got := files(t, dir, manifestsDir); len(got) != 1 || got[0] != meta.ManifestPath(d) {
		t.Errorf("files under manifests/ = %v, want [%s]", got, meta.ManifestPath(d))
	}
}

func TestManifestSaveRejects(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	data := []byte("m")
	tests := []struct {
		name        string
		origin, tag string
		d           meta.Digest
	}{
		{"wrong digest", "o", "", meta.Sum([]byte("other"))},
		{"bad tag", "o", "../x", meta.Sum(data)},
		{"NUL in origin", "o\x00x", "t", meta.Sum(data)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SaveManifest(tc.origin, tc.tag, tc.d, data); err == nil {
				t.Error("SaveManifest succeeded, want an error")
			}
			if _, err := s.LoadManifest(tc.d); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("LoadManifest = %v, want an error wrapping fs.ErrNotExist", err)
			}
		})
	}
}

func TestTags(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	v1, v2 := []byte("v1"), []byte("v2")
	saves := []struct {
		origin, tag string
		data        []byte
	}{
		{"https://a", "latest", v1},
		{"https://b", "latest", v2},
		{"https://a", "latest", v2}, // moves the tag
		{"https://a", "", v1},       // no tag: changes nothing
	}
	for _, sv := range saves {
		if err := s.SaveManifest(sv.origin, sv.tag, meta.Sum(sv.data), sv.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{})
	tests := []struct {
		origin, tag string
		want        meta.Digest
		ok          bool
	}{
		{"https://a", "latest", meta.Sum(v2), true},
		{"https://b", "latest", meta.Sum(v2), true},
		{"https://a", "stable", meta.Digest{}, false},
		{"https://c", "latest", meta.Digest{}, false},
	}
	for _, tc := range tests {
		got, ok, err := s.ResolveTag(tc.origin, tc.tag)
		if err != nil || ok != tc.ok || got != tc.want {
			t.Errorf("ResolveTag(%q, %q) = %s, %v, %v; want %s, %v, nil", tc.origin, tc.tag, got, ok, err, tc.want, tc.ok)
		}
	}
}

func TestLoadManifestCorrupt(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	data := []byte(`{"version":1}`)
	d := meta.Sum(data)
	if err := s.SaveManifest("o", "t", d, data); err != nil {
		t.Fatal(err)
	}
	bad := []byte(`{"version":2}`) // same length, other bytes
	if err := os.WriteFile(s.manifestPath(d), bad, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := s.LoadManifest(d)
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadManifest = %v, want an error wrapping ErrCorrupt and fs.ErrNotExist", err)
	}
	if recorded(t, s, BucketManifests, d) {
		t.Error("the corrupt manifest's record was kept")
	}
	if err := s.SaveManifest("o", "t", d, data); err != nil { // fetched again
		t.Fatal(err)
	}
	if got, err := s.LoadManifest(d); err != nil || string(got) != string(data) {
		t.Errorf("LoadManifest after saving again = %q, %v; want %q, nil", got, err, data)
	}
}

func TestManifestFileDeletedThenSavedAgain(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	data := []byte("m")
	d := meta.Sum(data)
	for range 2 {
		if err := s.SaveManifest("o", "", d, data); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(s.manifestPath(d)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LoadManifest(d); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("LoadManifest of a deleted file = %v, want an error wrapping fs.ErrNotExist", err)
		}
	}
	if err := s.SaveManifest("o", "", d, data); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadManifest(d); err != nil {
		t.Errorf("LoadManifest after saving again: %v", err)
	}
}

func TestManifestFaultAtEachStep(t *testing.T) {
	data := []byte(`{"version":1}`)
	d := meta.Sum(data)
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			hook := func(s string) error {
				if s == step {
					return errInjected
				}
				return nil
			}
			s := openT(t, dir, Options{faultHook: hook})
			if err := s.SaveManifest("o", "t", d, data); !errors.Is(err, errInjected) {
				t.Fatalf("SaveManifest = %v, want an error wrapping the injected fault", err)
			}
			if got := files(t, dir, manifestsDir); len(got) != 0 {
				t.Errorf("files under manifests/ = %v, want none", got)
			}
			if _, ok, _ := s.ResolveTag("o", "t"); ok {
				t.Error("tag recorded after a failed save")
			}
		})
	}
}

// TestManifestSaveAgainWritesNothing checks that saving a manifest and tag
// the database already records commits no transaction (each costs every
// mount's start an fdatasync), while a tag that moved, a new tag, or a
// record that went is written.
func TestManifestSaveAgainWritesNothing(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	a, b := []byte(`{"a":1}`), []byte(`{"b":2}`)
	da, db := meta.Sum(a), meta.Sum(b)
	save := func(tag string, d meta.Digest, data []byte) int {
		t.Helper()
		writes := func() int64 { st := s.db.Stats(); return st.TxStats.GetWrite() }
		before := writes()
		if err := s.SaveManifest("o", tag, d, data); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := s.ResolveTag("o", tag); tag != "" && (err != nil || !ok || got != d) {
			t.Fatalf("tag %q resolves to %s, %v, %v; want %s", tag, got, ok, err, d)
		}
		return int(writes() - before)
	}
	if n := save("t", da, a); n == 0 {
		t.Fatal("the first save wrote nothing")
	}
	if n := save("t", da, a); n != 0 {
		t.Errorf("saving the same manifest and tag again wrote %d pages; want none", n)
	}
	if n := save("", da, a); n != 0 {
		t.Errorf("saving the same manifest without a tag wrote %d pages; want none", n)
	}
	for _, c := range []struct {
		name string
		tag  string
		d    meta.Digest
		data []byte
	}{{"a moved tag", "t", db, b}, {"a new tag", "u", db, b}} {
		if n := save(c.tag, c.d, c.data); n == 0 {
			t.Errorf("%s wrote nothing", c.name)
		}
	}
	if err := s.db.Update(deleteRecord(BucketManifests, da)); err != nil {
		t.Fatal(err)
	}
	if n := save("t", da, a); n == 0 || !recorded(t, s, BucketManifests, da) {
		t.Errorf("saving a manifest whose record went wrote %d pages; want it recorded again", n)
	}
}
