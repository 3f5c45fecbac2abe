package meta

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzFastDecode checks the fast path against encoding/json, the reference,
// in both directions: whatever decodeCanonical accepts, decodeJSON decodes
// to an identical Manifest (and Validate treats the two alike); and
// whatever decodeJSON accepts, Encode writes in decodeCanonical's subset.
func FuzzFastDecode(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, doc := range unusualDocs(f) {
		f.Add([]byte(doc))
	}
	for _, tc := range canonicalCases() {
		b, err := tc.m.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		b, err := randomManifest(r, 4).Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(checkFastDecode)
}

func checkFastDecode(t *testing.T, b []byte) {
	fast, ok := decodeCanonical(b)
	ref, err := decodeJSON(b)
	if ok {
		if err != nil {
			t.Fatalf("the fast path accepts a document that encoding/json refuses: %v", err)
		}
		sameManifest(t, fast, ref)
		ferr, rerr := fast.Validate(), ref.Validate()
		if fmt.Sprint(ferr) != fmt.Sprint(rerr) {
			t.Fatalf("Validate after the fast path: %v; after encoding/json: %v", ferr, rerr)
		}
		sameManifest(t, fast, ref)
	}
	if err != nil {
		return
	}
	enc, err := ref.Encode()
	if err != nil {
		return // an invalid kind, which Encode refuses
	}
	checkCanonical(t, enc)
}

// checkCanonical fails unless enc, an encoding by Encode, takes the fast
// path, to the same Manifest as encoding/json's.
func checkCanonical(t *testing.T, enc []byte) {
	t.Helper()
	fast, ok := decodeCanonical(enc)
	if !ok {
		t.Fatalf("Encode's output falls back to encoding/json:\n%s", enc)
	}
	ref, err := decodeJSON(enc)
	if err != nil {
		t.Fatalf("encoding/json refuses Encode's output: %v\n%s", err, enc)
	}
	sameManifest(t, fast, ref)
}

// sameManifest fails unless got and want are deeply equal, comparing the
// extent offsets that Validate keys by *Entry by entry index instead.
func sameManifest(t *testing.T, got, want *Manifest) {
	t.Helper()
	g, w := *got, *want
	g.starts, w.starts = nil, nil
	if !reflect.DeepEqual(startsByIndex(got), startsByIndex(want)) {
		t.Fatalf("extent offsets differ")
	}
	if reflect.DeepEqual(g, w) {
		return
	}
	for i := range min(len(g.Entries), len(w.Entries)) {
		if !reflect.DeepEqual(g.Entries[i], w.Entries[i]) {
			t.Fatalf("entry %d: fast path %#v, encoding/json %#v", i, g.Entries[i], w.Entries[i])
		}
	}
	g.Entries, w.Entries = nil, nil
	t.Fatalf("fast path %#v\nencoding/json %#v", g, w)
}

func startsByIndex(m *Manifest) map[int][]int64 {
	s := map[int][]int64{}
	for e, starts := range m.starts {
		for i := range m.Entries {
			if &m.Entries[i] == e {
				s[i] = starts
			}
		}
	}
	return s
}

// TestEncodeTakesFastPath checks that what Encode writes, for manifests
// that use every field and awkward values, takes the fast path.
func TestEncodeTakesFastPath(t *testing.T) {
	for _, tc := range canonicalCases() {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			checkCanonical(t, b)
		})
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 300 {
		b, err := randomManifest(r, 1+i%40).Encode()
		if err != nil {
			t.Fatal(err)
		}
		checkCanonical(t, b)
	}
}

// awkward holds strings that json.Marshal escapes or that take more than
// one byte, and one that is not UTF-8 (Marshal writes it as U+FFFD).
var awkward = []string{`"`, `\`, "/", "\x00", "\x01", "\x1f", "\b", "\f", "\n", "\r", "\t", "<", ">", "&",
	"\u2028", "\u2029", "\u007f", "é", "ñandú", "🙂", "\ufffd", "\xff", "a b", "'"}

func canonicalCases() []struct {
	name string
	m    *Manifest
} {
	type tc = struct {
		name string
		m    *Manifest
	}
	edit := func(name string, f func(m *Manifest)) tc {
		m := sample()
		f(m)
		return tc{name, m}
	}
	return []tc{
		{"sample", sample()},
		edit("version 2", func(m *Manifest) {
			m.Version, m.BlockSize = VersionBlocks, DefaultBlockSize
			m.Pieces[0].Blocks = Sum([]byte("table"))
		}),
		edit("awkward paths", func(m *Manifest) {
			for i, s := range awkward {
				m.Entries = append(m.Entries, Entry{Path: "x" + s + "y", Kind: KindSymlink, Target: s + fmt.Sprint(i)})
			}
		}),
		edit("xattrs", func(m *Manifest) {
			m.Entries[1].Xattrs = map[string][]byte{
				"user.bin": {0, 1, 2, 0x7f, 0x80, 0xfe, 0xff}, "user.empty": {}, "user.nil": nil,
				"security.capability": bytes.Repeat([]byte{0xfb}, 20), "user.<&>\"\\\n": []byte("v"),
				"user.\u2028é": []byte("x"), "user.\xff": []byte("y"),
			}
		}),
		edit("extreme numbers", func(m *Manifest) {
			m.PieceSize = math.MaxInt64
			m.BlockSize = math.MinInt64
			m.Pieces[1].Size = math.MinInt64
			e := &m.Entries[6]
			e.Mode, e.UID, e.GID, e.DevMajor, e.DevMinor = math.MaxUint32, math.MaxUint32, 1<<31, math.MaxUint32, 1
			m.Entries[0].Mtime = math.MinInt64
			m.Entries[1].Mtime = -1
			m.Entries[2].Size = math.MaxInt64
			m.Entries[2].Extents[0] = Extent{Piece: math.MaxInt64, Offset: math.MinInt64, Length: -1}
			m.Entries[2].Extents[1] = Extent{Piece: math.MinInt64, Offset: math.MaxInt64, Length: 1e18}
			m.Version = math.MinInt64
		}),
		edit("empty arrays", func(m *Manifest) {
			m.Pieces = []Piece{}
			m.Entries = []Entry{{Path: ".", Kind: KindDir, Extents: []Extent{}, Xattrs: map[string][]byte{}}}
		}),
		edit("nil arrays", func(m *Manifest) { m.Pieces, m.Entries = nil, nil }),
		edit("empty strings", func(m *Manifest) { m.Format, m.Entries[3].Path, m.Entries[4].Target = "", "", "" }),
		edit("image", func(m *Manifest) {
			m.Image = &Image{OS: "linux", Architecture: "arm64", Entrypoint: []string{"/bin/sh", "-c"},
				Cmd: append([]string{"echo <hi> & \"bye\""}, awkward...), Env: []string{"PATH=/usr/bin", "X=\t\u2028"},
				WorkingDir: "/w d", User: "1000:1000"}
		}),
		edit("empty image", func(m *Manifest) { m.Image = &Image{Cmd: []string{}} }),
		edit("prefetch", func(m *Manifest) {
			m.Image = &Image{OS: "linux"}
			m.Prefetch = &ObjectRef{Digest: Sum([]byte("list")), Size: 1234}
		}),
		edit("zero prefetch", func(m *Manifest) { m.Prefetch = &ObjectRef{} }),
	}
}

// randomManifest returns a manifest of n entries with random fields, valid
// or not: Encode needs only valid kinds.
func randomManifest(r *rand.Rand, n int) *Manifest {
	str := func() string {
		var b strings.Builder
		for range r.IntN(6) {
			if r.IntN(3) == 0 {
				b.WriteString(awkward[r.IntN(len(awkward))])
			} else {
				b.WriteByte(byte('a' + r.IntN(26)))
			}
		}
		return b.String()
	}
	i64 := func() int64 {
		switch r.IntN(4) {
		case 0:
			return 0
		case 1:
			return r.Int64N(1000) - 500
		}
		return int64(r.Uint64())
	}
	m := &Manifest{Format: Format, Version: r.IntN(4), PieceSize: i64(), BlockSize: i64()}
	for range r.IntN(4) {
		p := Piece{Size: i64()}
		fill(r, p.Digest[:])
		if r.IntN(2) == 0 {
			fill(r, p.Blocks[:])
		}
		m.Pieces = append(m.Pieces, p)
	}
	for range n {
		e := Entry{Path: str(), Kind: Kind(1 + r.IntN(int(KindFifo))), Mode: r.Uint32(), UID: r.Uint32(),
			GID: r.Uint32(), Mtime: i64(), Size: i64(), Target: str()}
		if r.IntN(3) == 0 {
			e.DevMajor, e.DevMinor = r.Uint32(), r.Uint32()
		}
		if r.IntN(3) == 0 {
			e.Xattrs = map[string][]byte{}
			for range r.IntN(3) {
				v := make([]byte, r.IntN(5))
				fill(r, v)
				e.Xattrs[str()] = v
			}
		}
		for range r.IntN(3) {
			e.Extents = append(e.Extents, Extent{Piece: int(i64()), Offset: i64(), Length: i64()})
		}
		m.Entries = append(m.Entries, e)
	}
	if r.IntN(2) == 0 {
		m.Image = &Image{OS: str(), Architecture: str(), WorkingDir: str(), User: str()}
		for range r.IntN(3) {
			m.Image.Cmd = append(m.Image.Cmd, str())
			m.Image.Env = append(m.Image.Env, str())
		}
	}
	if r.IntN(2) == 0 {
		m.Prefetch = &ObjectRef{Size: i64()}
		fill(r, m.Prefetch.Digest[:])
	}
	return m
}

func fill(r *rand.Rand, b []byte) {
	for i := range b {
		b[i] = byte(r.Uint32())
	}
}

// TestFastDecodeFallsBack checks that documents outside the canonical
// subset fall back to encoding/json, which decodes them as before.
func TestFastDecodeFallsBack(t *testing.T) {
	good, err := mustValidate(t, sample()).Encode()
	if err != nil {
		t.Fatal(err)
	}
	s := string(good)
	docs := unusualDocs(t)
	for name, edit := range map[string][2]string{
		"key in another case":   {`"mode":420`, `"Mode":420`},
		"unknown key":           {`"mode":420`, `"mode":420,"x":1`},
		"repeated key":          {`"mode":420`, `"mode":420,"mode":420`},
		"null":                  {`"mode":420`, `"mode":null`},
		"exponent":              {`"mode":420`, `"mode":42e1`},
		"fraction":              {`"mode":420`, `"mode":420.0`},
		"leading zero":          {`"mode":420`, `"mode":0420`},
		"minus space":           {`"mtime":0`, `"mtime":- 1`},
		"uint32 overflow":       {`"mode":420`, `"mode":4294967296`},
		"negative uint32":       {`"mode":420`, `"mode":-1`},
		"int64 overflow":        {`"mtime":1700000000123456789`, `"mtime":9223372036854775808`},
		"20 digits":             {`"mtime":1700000000123456789`, `"mtime":17000000001234567890`},
		"string number":         {`"mode":420`, `"mode":"420"`},
		"uppercase \\u":         {`"path":"a"`, `"path":"\u0061\u00E9"`},
		"surrogate pair":        {`"path":"a"`, `"path":"\ud83d\ude42"`},
		"lone surrogate":        {`"path":"a"`, `"path":"\ud83d"`},
		"unknown escape":        {`"path":"a"`, `"path":"\a"`},
		"raw control byte":      {`"path":"a"`, "\"path\":\"a\x01\""},
		"invalid UTF-8":         {`"path":"a"`, "\"path\":\"a\xff\""},
		"escaped kind":          {`"kind":"fifo"`, `"kind":"fif\u006f"`},
		"uppercase digest":      {`"digest":"sha256:`, `"digest":"SHA256:`},
		"base64 with newline":   {`"user.k":"dg=="`, `"user.k":"d\ng=="`},
		"base64 raw newline":    {`"user.k":"dg=="`, "\"user.k\":\"d\ng==\""},
		"trailing comma":        {`"mtime":0}]}`, `"mtime":0,}]}`},
		"trailing data":         {"}\n", "}\n{}"},
		"repeated xattr":        {`"user.k":"dg=="`, `"user.k":"dg==","user.k":"dg=="`},
		"null image":            {`]}` + "\n", `],"image":null}`},
		"null extents":          {`"extents":[{`, `"extents":null,"x":[{`},
		"byte order mark":       {`{"format"`, "\ufeff{\"format\""},
		"pieces before entries": {`"pieces":[`, `"pieces":null,"pieces":[`},
	} {
		if !strings.Contains(s, edit[0]) {
			t.Fatalf("%s: the sample has no %s", name, edit[0])
		}
		docs[name] = strings.Replace(s, edit[0], edit[1], 1)
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			if name != "canonical" && name != "whitespace" {
				if _, ok := decodeCanonical([]byte(doc)); ok {
					t.Errorf("the fast path accepts it")
				}
			}
			checkFastDecode(t, []byte(doc))
			checkLikeUnmarshal(t, []byte(doc))
		})
	}
}
