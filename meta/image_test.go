package meta

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withImage returns sample() with every Image field set.
func withImage() *Manifest {
	m := sample()
	m.Image = &Image{
		OS: "linux", Architecture: "amd64",
		Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"echo hi", ""},
		Env:        []string{"PATH=/usr/bin:/bin", "EMPTY=", "A==b"},
		WorkingDir: "/srv", User: "1000:1000",
	}
	return m
}

func TestImageRoundTrip(t *testing.T) {
	b, err := mustValidate(t, withImage()).Encode()
	must(t, err)
	if !bytes.HasSuffix(b, []byte(`"user":"1000:1000"}}`+"\n")) {
		t.Fatalf("image is not the last key:\n%s", b)
	}
	got, err := Decode(b)
	must(t, err)
	b2, err := got.Encode()
	must(t, err)
	if !bytes.Equal(b, b2) {
		t.Fatalf("re-encoding differs:\n%s\n%s", b, b2)
	}
	if got.Image.WorkingDir != "/srv" || len(got.Image.Env) != 3 || got.Image.Cmd[1] != "" {
		t.Fatalf("decoded image %+v", got.Image)
	}
	checkLikeUnmarshal(t, b)
	checkLikeUnmarshal(t, bytes.Replace(b, []byte(`"image":{`), []byte(`"IMAGE":null,"image":{"os":"x"},"Image":{`), 1))
	checkLikeUnmarshal(t, bytes.Replace(b, []byte(`"image":{`), []byte(`"image":null,"x":{`), 1))
	checkLikeUnmarshal(t, bytes.Replace(b, []byte(`"image":{`), []byte(`"image":[],"x":{`), 1))
}

// TestNoImageUnchanged checks that a manifest without an image encodes as
// manifests did before the field existed: the seed corpus, written then,
// decodes and re-encodes to the same bytes and the same digest.
func TestNoImageUnchanged(t *testing.T) {
	const digest = "sha256:289720d22ed7c79a5bd49367ffb6d16fd9a040dd99c45613b20d609a12a1edba"
	old, err := os.ReadFile(filepath.Join("testdata", "sample.json"))
	must(t, err)
	if d := Sum(old).String(); d != digest {
		t.Fatalf("testdata/sample.json has digest %s, want %s", d, digest)
	}
	m, err := Decode(old)
	must(t, err)
	if m.Image != nil {
		t.Fatalf("image %+v from a manifest without one", m.Image)
	}
	b, err := m.Encode()
	must(t, err)
	if d := Sum(b).String(); d != digest || bytes.Contains(b, []byte(`"image"`)) {
		t.Fatalf("re-encoded to %s:\n%s", d, b)
	}
}

func TestImageRefused(t *testing.T) {
	long := strings.Repeat("x", MaxImageString+1)
	many := make([]string, MaxImageList+1)
	for _, tc := range []struct {
		name string
		edit func(im *Image)
		want string
	}{
		{"NUL in cmd", func(im *Image) { im.Cmd = []string{"a", "b\x00c"} }, "cmd[1]: contains NUL"},
		{"NUL in entrypoint", func(im *Image) { im.Entrypoint[0] = "\x00" }, "entrypoint[0]: contains NUL"},
		{"NUL in env", func(im *Image) { im.Env[0] = "A=\x00" }, "env[0]: contains NUL"},
		{"NUL in user", func(im *Image) { im.User = "ro\x00ot" }, "user: contains NUL"},
		{"NUL in workingDir", func(im *Image) { im.WorkingDir = "/\x00" }, "workingDir: contains NUL"},
		{"env without =", func(im *Image) { im.Env[1] = "PATH" }, "env[1]"},
		{"env without key", func(im *Image) { im.Env[2] = "=x" }, "KEY=VALUE"},
		{"long arg", func(im *Image) { im.Cmd = []string{long} }, "cmd[0]: 131073 bytes"},
		{"long os", func(im *Image) { im.OS = strings.Repeat("l", 256) }, "os: 256 bytes"},
		{"long architecture", func(im *Image) { im.Architecture = strings.Repeat("a", 256) }, "architecture"},
		{"long workingDir", func(im *Image) { im.WorkingDir = strings.Repeat("/", MaxPathLen+1) }, "workingDir"},
		{"too many args", func(im *Image) { im.Entrypoint = many }, "entrypoint: 65537 strings"},
		{"too many bytes", func(im *Image) {
			for range 17 {
				im.Env = append(im.Env, "K="+long[:MaxImageString-2])
			}
		}, "more than 2097152"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := withImage()
			tc.edit(m.Image)
			err := m.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "image") {
				t.Fatalf("Validate: %v; want an image error containing %q", err, tc.want)
			}
			if b, jerr := m.Encode(); jerr == nil {
				if _, derr := Decode(b); derr == nil {
					t.Fatal("Decode accepts it")
				}
			}
		})
	}
}

// TestImageSeed keeps testdata/image.json, a fuzz seed with an image, in
// step with withImage().
func TestImageSeed(t *testing.T) {
	want, err := mustValidate(t, withImage()).Encode()
	must(t, err)
	path := filepath.Join("testdata", "image.json")
	if os.Getenv("PIECEFS_UPDATE_TESTDATA") != "" {
		must(t, os.WriteFile(path, want, 0o644))
	}
	got, err := os.ReadFile(path)
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale; regenerate with PIECEFS_UPDATE_TESTDATA=1 go test ./meta", path)
	}
}
