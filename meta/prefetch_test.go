package meta

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestPrefetchRoundTrip(t *testing.T) {
	l := NewPrefetchList()
	l.Ranges = []PrefetchRange{{Path: "a/f", Offset: 0, Length: 4}, {Path: "ñandú 🙂/x\"y", Offset: 1 << 40, Length: 1}}
	b, err := l.Encode()
	must(t, err)
	got, err := DecodePrefetch(b)
	must(t, err)
	if !reflect.DeepEqual(got, l) {
		t.Fatalf("got %+v, want %+v", got, l)
	}
	if n := bytes.Count(b, []byte("\n")); n != len(l.Ranges)+2 {
		t.Errorf("%d lines, want one a range and two more:\n%s", n, b)
	}
	for _, r := range l.Ranges {
		one := NewPrefetchList()
		one.Ranges = []PrefetchRange{r}
		b, _ := one.Encode()
		empty, _ := NewPrefetchList().Encode()
		if grew := len(b) - len(empty); grew > r.EncodedSize() {
			t.Errorf("range %+v adds %d bytes, EncodedSize says at most %d", r, grew, r.EncodedSize())
		}
	}
}

func TestPrefetchRefused(t *testing.T) {
	head := `{"format":"piecefs-prefetch","version":1,"ranges":[`
	many := head + strings.Repeat(`{"path":"a","offset":0,"length":1},`, MaxPrefetchRanges) + `{"path":"a","offset":0,"length":1}]}`
	for name, doc := range map[string]string{
		"not an object":     `[]`,
		"wrong format":      `{"format":"piecefs-manifest","version":1,"ranges":[]}`,
		"no format":         `{"version":1,"ranges":[]}`,
		"version 2":         `{"format":"piecefs-prefetch","version":2,"ranges":[]}`,
		"ranges not array":  head[:len(head)-1] + `{}}`,
		"absolute path":     head + `{"path":"/etc/passwd","offset":0,"length":1}]}`,
		"dotdot":            head + `{"path":"a/../../b","offset":0,"length":1}]}`,
		"empty path":        head + `{"path":"","offset":0,"length":1}]}`,
		"root":              head + `{"path":".","offset":0,"length":1}]}`,
		"NUL":               head + `{"path":"a\u0000b","offset":0,"length":1}]}`,
		"negative offset":   head + `{"path":"a","offset":-1,"length":1}]}`,
		"negative length":   head + `{"path":"a","offset":0,"length":-5}]}`,
		"empty range":       head + `{"path":"a","offset":0,"length":0}]}`,
		"overflow":          head + `{"path":"a","offset":1125899906842620,"length":9223372036854775807}]}`,
		"offset not number": head + `{"path":"a","offset":"0","length":1}]}`,
		"trailing data":     `{"format":"piecefs-prefetch","version":1,"ranges":[]} {}`,
		"unclosed":          head,
		"too many ranges":   many,
		"too large":         head + strings.Repeat(" ", MaxPrefetchSize) + `]}`,
	} {
		if l, err := DecodePrefetch([]byte(doc)); err == nil {
			t.Errorf("%s: decoded %d ranges, want an error", name, len(l.Ranges))
		}
	}
}

func TestPrefetchNullAndUnknownKeys(t *testing.T) {
	l, err := DecodePrefetch([]byte(`{"Format":"piecefs-prefetch","version":1,"ranges":null,"future":[1,2]}`))
	must(t, err)
	if len(l.Ranges) != 0 {
		t.Errorf("ranges %v, want none", l.Ranges)
	}
}

func TestResolvePrefetch(t *testing.T) {
	m := mustValidate(t, sample())
	l := NewPrefetchList()
	l.Ranges = []PrefetchRange{
		{Path: "a/f", Offset: 10, Length: 100}, // clamped to the 12 bytes
		{Path: "missing", Offset: 0, Length: 1},
		{Path: "a", Offset: 0, Length: 1},       // a directory
		{Path: "ln", Offset: 0, Length: 1},      // a symlink is not followed
		{Path: "a/empty", Offset: 0, Length: 1}, // nothing to read
		{Path: "a/f", Offset: 12, Length: 1},    // at the end
		{Path: "hl", Offset: 0, Length: 2},      // a hardlink reads its target
		{Path: "a/f", Offset: 2, Length: 5},     // across two extents
	}
	var dropped []string
	got := m.ResolvePrefetch(l, func(r PrefetchRange, why string) {
		dropped = append(dropped, fmt.Sprintf("%s@%d: %s", r.Path, r.Offset, why))
	})
	want := []PrefetchRange{{"a/f", 10, 2}, {"a/f", 0, 2}, {"a/f", 2, 5}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resolved %v, want %v", got, want)
	}
	if len(dropped) != 5 {
		t.Errorf("dropped %q, want 5", dropped)
	}
	slices := m.AppendPrefetchSlices(nil, l)
	wantSlices := []Slice{
		{Piece: m.Pieces[1], Index: 1, Offset: 4, Length: 2},
		{Piece: m.Pieces[0], Index: 0, Offset: 3, Length: 2},
		{Piece: m.Pieces[0], Index: 0, Offset: 5, Length: 4},
		{Piece: m.Pieces[1], Index: 1, Offset: 0, Length: 1},
	}
	if !reflect.DeepEqual(slices, wantSlices) {
		t.Errorf("slices %+v, want %+v", slices, wantSlices)
	}
}

func TestManifestPrefetchRef(t *testing.T) {
	m := sample()
	plain, err := mustValidate(t, m).Encode()
	must(t, err)
	m.Prefetch = &ObjectRef{Digest: Sum([]byte("list")), Size: 100}
	with, err := mustValidate(t, m).Encode()
	must(t, err)
	if !bytes.HasPrefix(with, plain[:len(plain)-2]) || !bytes.Contains(with, []byte(`,"prefetch":{"digest":"sha256:`)) {
		t.Errorf("the prefetch key is not appended last:\n%s", with)
	}
	got, err := Decode(with)
	must(t, err)
	if got.Prefetch == nil || *got.Prefetch != *m.Prefetch {
		t.Errorf("decoded prefetch %+v, want %+v", got.Prefetch, m.Prefetch)
	}
	m.Prefetch = nil
	again, err := m.Encode()
	must(t, err)
	if !bytes.Equal(again, plain) {
		t.Error("a manifest without prefetch changed its bytes")
	}
	for _, size := range []int64{0, -1, MaxPrefetchSize + 1} {
		m.Prefetch = &ObjectRef{Size: size}
		if err := m.Validate(); err == nil {
			t.Errorf("prefetch of size %d accepted", size)
		}
	}
}

// FuzzDecodePrefetch checks that DecodePrefetch never panics, that what it
// accepts encodes to a list it decodes the same, and that resolving it
// against a tree yields only ranges inside that tree's files.
func FuzzDecodePrefetch(f *testing.F) {
	f.Add([]byte(`{"format":"piecefs-prefetch","version":1,"ranges":[{"path":"a/f","offset":3,"length":100},{"path":"hl","offset":0,"length":1}]}`))
	f.Add([]byte(`{"format":"piecefs-prefetch","version":1,"ranges":null}`))
	f.Add([]byte(`{"format":"piecefs-prefetch","version":1,"ranges":[{"path":"a/../b","offset":-1,"length":0}]}`))
	m := sample()
	if err := m.Validate(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := DecodePrefetch(b)
		if err != nil {
			return
		}
		enc, err := l.Encode()
		if err != nil {
			t.Fatalf("Encode of a decoded list: %v", err)
		}
		again, err := DecodePrefetch(enc)
		if err != nil || !reflect.DeepEqual(again.Ranges, l.Ranges) && len(l.Ranges) > 0 {
			t.Fatalf("re-decode: %v; %v, want %v", err, again, l)
		}
		for _, r := range m.ResolvePrefetch(l, nil) {
			i, ok := m.Lookup(r.Path)
			if !ok || r.Offset < 0 || r.Length <= 0 || r.Offset+r.Length > m.Entries[i].Size {
				t.Fatalf("resolved %+v outside the tree", r)
			}
		}
		_ = m.AppendPrefetchSlices(nil, l)
	})
}
