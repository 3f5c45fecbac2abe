package meta

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestDecodeLikeUnmarshal checks that Decode, which streams the arrays,
// reads documents that publishers do not write the way json.Unmarshal
// reads them: keys in any case, unknown keys, null arrays, repeated keys.
func TestDecodeLikeUnmarshal(t *testing.T) {
	for name, doc := range unusualDocs(t) {
		t.Run(name, func(t *testing.T) { checkLikeUnmarshal(t, []byte(doc)) })
	}
}

// unusualDocs returns the sample's encoding and edits of it that are JSON
// publishers do not write, by name.
func unusualDocs(tb testing.TB) map[string]string {
	m := sample()
	if err := m.Validate(); err != nil {
		tb.Fatal(err)
	}
	good, err := m.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	s := string(good)
	return map[string]string{
		"canonical":         s,
		"keys in any case":  strings.Replace(strings.Replace(s, `"entries"`, `"ENTRIES"`, 1), `"pieceSize"`, `"piecesize"`, 1),
		"unknown keys":      strings.Replace(s, `{"format"`, `{"extra":[1,{"a":null}],"format"`, 1),
		"repeated key":      strings.Replace(s, `"pieces":`, `"pieces":[{"digest":"x"}],"pieces":`, 1),
		"null before":       strings.Replace(s, `"pieces":`, `"entries":null,"format":null,"pieces":`, 1),
		"whitespace":        " \n" + strings.ReplaceAll(s, `,"`, ` ,  "`) + "\n\t",
		"escaped key":       strings.Replace(s, `"entries"`, `"entri\u0065s"`, 1),
		"null entries":      strings.Replace(s, `"entries":[`, `"entries":null,"x":[`, 1),
		"pieces not array":  strings.Replace(s, `"pieces":[`, `"pieces":{"a":1},"x":[`, 1),
		"kind not a string": strings.Replace(s, `"kind":"dir"`, `"kind":1`, 1),
	}
}

// checkLikeUnmarshal fails unless Decode(b) and json.Unmarshal followed by
// Validate both refuse b, or both accept it with the same encoding.
func checkLikeUnmarshal(t *testing.T, b []byte) {
	t.Helper()
	var ref Manifest
	refErr := json.Unmarshal(b, &ref)
	if refErr == nil {
		refErr = ref.Validate()
	}
	got, err := Decode(b)
	if (err == nil) != (refErr == nil) {
		t.Fatalf("Decode: %v; json.Unmarshal and Validate: %v", err, refErr)
	}
	if err != nil {
		return
	}
	want, werr := ref.Encode()
	enc, gerr := got.Encode()
	if werr != nil || gerr != nil || !bytes.Equal(enc, want) {
		t.Fatalf("Decode gives\n%s (%v), json.Unmarshal gives\n%s (%v)", enc, gerr, want, werr)
	}
}

func TestDecodeRejectsKinds(t *testing.T) {
	good, err := mustValidate(t, sample()).Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"socket"`, `""`, `"Dir"`, `null`} {
		b := bytes.Replace(good, []byte(`"kind":"fifo"`), []byte(`"kind":`+k), 1)
		if _, err := Decode(b); err == nil || !strings.Contains(err.Error(), "kind") {
			t.Errorf("kind %s: Decode error %v, want one about the kind", k, err)
		}
	}
}

func TestKindText(t *testing.T) {
	for k := KindDir; k <= KindFifo; k++ {
		b, err := k.MarshalText()
		if err != nil {
			t.Fatalf("%d: %v", k, err)
		}
		var got Kind
		if err := got.UnmarshalText(b); err != nil || got != k || k.String() != string(b) {
			t.Errorf("%d: %q round trips to %d (%v); String %q", k, b, got, err, k.String())
		}
	}
	for _, k := range []Kind{0, KindFifo + 1, 255} {
		if _, err := k.MarshalText(); err == nil {
			t.Errorf("%d: MarshalText accepted an invalid kind", k)
		}
	}
}

// TestDecodeSizesArrays checks that the arrays are allocated once, at the
// size the document needs: a manifest's entries are most of its memory.
func TestDecodeSizesArrays(t *testing.T) {
	b, err := mustValidate(t, sample()).Encode()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Entries) != cap(m.Entries) || len(m.Pieces) != cap(m.Pieces) {
		t.Errorf("entries %d of capacity %d, pieces %d of %d; want no spare capacity",
			len(m.Entries), cap(m.Entries), len(m.Pieces), cap(m.Pieces))
	}
}
