package meta

import (
	"bytes"
	"encoding/base64"
	"math"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeCanonical is Decode's fast path. encoding/json spends most of a
// mount's manifest decode on reflection and on scanning every array
// element twice; this reads the manifest's fixed shape directly, several
// times faster, from a small scanner over the bytes.
//
// It accepts only a canonical subset of JSON: what Manifest.Encode
// (json.Marshal) writes, with any whitespace. Keys must be spelt exactly as
// the struct tags, at most once each; numbers are integers without fraction
// or exponent that fit their field; strings may use the escapes json.Marshal
// writes (and \/) but no surrogate pairs, and must be valid UTF-8; null
// only where json.Marshal writes it (pieces, entries, xattr values). On
// anything else it reports false and Decode runs the encoding/json path,
// which remains the reference: it decides every document outside the subset
// and words every error. FuzzFastDecode checks that whatever this accepts,
// encoding/json decodes to an identical Manifest.
//
// It never panics and does bounded work: every read checks the index
// against the length, and the first surprise moves the index to the end so
// that every loop stops. What it allocates is bounded by the document's
// size, as for encoding/json; the pieces and entries arrays are allocated
// once, from a count of a key, and limited to MaxEntries elements.
func decodeCanonical(b []byte) (*Manifest, bool) {
	// A document that does not end as an object would, trailing data
	// most likely, takes the error path at once instead of after a scan.
	if end := bytes.TrimRight(b, " \t\n\r"); len(end) == 0 || end[len(end)-1] != '}' {
		return nil, false
	}
	s := scanner{b: b, ok: true}
	var m Manifest
	s.manifest(&m)
	s.space()
	if !s.ok || s.i != len(b) {
		return nil, false
	}
	return &m, true
}

// scanner reads a document from b at index i. Once ok is false the
// document is not canonical, i is len(b), and every method returns zero
// values at once.
type scanner struct {
	b   []byte
	i   int
	ok  bool
	buf []byte // scratch for strings with escapes
}

func (s *scanner) fail() { s.ok, s.i = false, len(s.b) }

// fields records which keys of one object were read, so that a repeated key
// fails: encoding/json would merge the two values, or let the last win.
type fields uint16

func (f *fields) once(s *scanner, n uint) {
	if *f&(1<<n) != 0 {
		s.fail()
	}
	*f |= 1 << n
}

func (s *scanner) manifest(m *Manifest) {
	var seen fields
	for more := s.open('{', '}'); more; more = s.next('}') {
		switch string(s.key()) {
		case "format":
			seen.once(s, 0)
			m.Format = s.str()
		case "version":
			seen.once(s, 1)
			m.Version = s.int()
		case "pieceSize":
			seen.once(s, 2)
			m.PieceSize = s.int64()
		case "blockSize":
			seen.once(s, 3)
			m.BlockSize = s.int64()
		case "pieces":
			seen.once(s, 4)
			m.Pieces = array(s, `"digest"`, s.hint(`digest"`, `"entries"`), (*scanner).piece)
		case "entries":
			seen.once(s, 5)
			m.Entries = array(s, `"path"`, s.hint(`kind"`, ""), (*scanner).entry)
		case "image":
			seen.once(s, 6)
			m.Image = new(Image)
			s.image(m.Image)
		case "prefetch":
			seen.once(s, 7)
			m.Prefetch = new(ObjectRef)
			s.objectRef(m.Prefetch)
		default:
			s.fail()
		}
	}
}

// hint returns the capacity for the array that starts next: how many times
// key, which every element of the array has, occurs before stop, a key
// that Encode writes after the array (or, for "", before the end). In a
// canonical document that is the array's length, give or take a string
// value that is the key's text; it is a hint only. The keys leave out the
// leading quote, which would make bytes.Count stop at every string: 'k' is
// rare in a manifest, so counting kind" skips most of the entries, several
// times faster than countHint's "path".
func (s *scanner) hint(key, stop string) int {
	rest := s.b[s.i:]
	if stop != "" {
		if i := bytes.Index(rest, []byte(stop)); i >= 0 {
			rest = rest[:i]
		}
	}
	return countHint(rest, key)
}

// array reads the pieces or entries array, or null, as decodeArray does:
// at most MaxEntries elements, into a slice of capacity hint. Like
// decodeArray's, an empty array is nil when its capacity hint, the count
// of key in the whole document, is 0; an empty slice otherwise.
func array[T any](s *scanner, key string, hint int, elem func(*scanner, *T)) []T {
	if s.null() {
		return nil
	}
	var l []T
	if hint > 0 {
		l = make([]T, 0, hint)
	}
	for more := s.open('[', ']'); more; more = s.next(']') {
		if len(l) == MaxEntries {
			s.fail()
			break
		}
		l = append(l, *new(T))
		elem(s, &l[len(l)-1])
	}
	switch {
	case len(l) > 0:
		return l
	case countHint(s.b, key) == 0:
		return nil
	}
	return []T{}
}

func (s *scanner) piece(p *Piece) {
	var seen fields
	for more := s.open('{', '}'); more; more = s.next('}') {
		switch string(s.key()) {
		case "digest":
			seen.once(s, 0)
			p.Digest = s.digest()
		case "size":
			seen.once(s, 1)
			p.Size = s.int64()
		case "blocks":
			seen.once(s, 2)
			p.Blocks = s.digest()
		default:
			s.fail()
		}
	}
}

func (s *scanner) entry(e *Entry) {
	var seen fields
	for more := s.open('{', '}'); more; more = s.next('}') {
		switch string(s.key()) {
		case "path":
			seen.once(s, 0)
			e.Path = s.str()
		case "kind":
			seen.once(s, 1)
			e.Kind = s.kind()
		case "mode":
			seen.once(s, 2)
			e.Mode = s.uint32()
		case "uid":
			seen.once(s, 3)
			e.UID = s.uint32()
		case "gid":
			seen.once(s, 4)
			e.GID = s.uint32()
		case "mtime":
			seen.once(s, 5)
			e.Mtime = s.int64()
		case "size":
			seen.once(s, 6)
			e.Size = s.int64()
		case "target":
			seen.once(s, 7)
			e.Target = s.str()
		case "devMajor":
			seen.once(s, 8)
			e.DevMajor = s.uint32()
		case "devMinor":
			seen.once(s, 9)
			e.DevMinor = s.uint32()
		case "xattrs":
			seen.once(s, 10)
			e.Xattrs = s.xattrs()
		case "extents":
			seen.once(s, 11)
			e.Extents = s.extents()
		default:
			s.fail()
		}
	}
}

// xattrs reads an object of base64 values (or null: a nil value) into a
// new map, as encoding/json decodes a map[string][]byte.
func (s *scanner) xattrs() map[string][]byte {
	x := map[string][]byte{}
	for more := s.open('{', '}'); more; more = s.next('}') {
		name := s.str()
		s.expect(':')
		if _, dup := x[name]; dup {
			s.fail()
		}
		x[name] = s.base64()
	}
	return x
}

// base64 reads a string of standard base64 as encoding/json reads a []byte,
// into a new slice, empty but not nil for "", or null as nil.
func (s *scanner) base64() []byte {
	if s.null() {
		return nil
	}
	src := s.plain()
	v := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	n, err := base64.StdEncoding.Decode(v, src)
	if err != nil {
		s.fail()
	}
	return v[:n]
}

// extents reads an array of extents; empty but not nil for [], as
// encoding/json decodes a slice.
func (s *scanner) extents() []Extent {
	l := []Extent{}
	for more := s.open('[', ']'); more; more = s.next(']') {
		var seen fields
		var x Extent
		for more := s.open('{', '}'); more; more = s.next('}') {
			switch string(s.key()) {
			case "piece":
				seen.once(s, 0)
				x.Piece = s.int()
			case "offset":
				seen.once(s, 1)
				x.Offset = s.int64()
			case "length":
				seen.once(s, 2)
				x.Length = s.int64()
			default:
				s.fail()
			}
		}
		l = append(l, x)
	}
	return l
}

func (s *scanner) image(im *Image) {
	var seen fields
	for more := s.open('{', '}'); more; more = s.next('}') {
		switch string(s.key()) {
		case "os":
			seen.once(s, 0)
			im.OS = s.str()
		case "architecture":
			seen.once(s, 1)
			im.Architecture = s.str()
		case "entrypoint":
			seen.once(s, 2)
			im.Entrypoint = s.strs()
		case "cmd":
			seen.once(s, 3)
			im.Cmd = s.strs()
		case "env":
			seen.once(s, 4)
			im.Env = s.strs()
		case "workingDir":
			seen.once(s, 5)
			im.WorkingDir = s.str()
		case "user":
			seen.once(s, 6)
			im.User = s.str()
		default:
			s.fail()
		}
	}
}

func (s *scanner) objectRef(r *ObjectRef) {
	var seen fields
	for more := s.open('{', '}'); more; more = s.next('}') {
		switch string(s.key()) {
		case "digest":
			seen.once(s, 0)
			r.Digest = s.digest()
		case "size":
			seen.once(s, 1)
			r.Size = s.int64()
		default:
			s.fail()
		}
	}
}

// strs reads an array of strings; empty but not nil for [].
func (s *scanner) strs() []string {
	l := []string{}
	for more := s.open('[', ']'); more; more = s.next(']') {
		l = append(l, s.str())
	}
	return l
}

// The scanner's primitives. Whitespace before a token is skipped by the
// method that reads the token.

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after whitespace, or 0 at the end.
func (s *scanner) peek() byte {
	s.space()
	if s.i == len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// consume reads c if it comes next.
func (s *scanner) consume(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) expect(c byte) {
	if !s.consume(c) {
		s.fail()
	}
}

// open reads the start of an object or array and reports whether a member
// follows (rather than the end).
func (s *scanner) open(start, end byte) bool {
	s.expect(start)
	return s.ok && !s.consume(end)
}

// next reads what follows a member: a comma, reporting that another member
// follows, or the end.
func (s *scanner) next(end byte) bool {
	switch s.peek() {
	case ',':
		s.i++
		return true
	case end:
		s.i++
		return false
	}
	s.fail()
	return false
}

// null reads null if it comes next.
func (s *scanner) null() bool {
	if s.peek() == 'n' && bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += len("null")
		return true
	}
	return false
}

// key reads an object's key and the colon after it. It returns the bytes
// up to the next quote without looking at them: a key with an escape or a
// control byte matches no field name, and fails in the caller's switch.
func (s *scanner) key() []byte {
	s.expect('"')
	start := s.i
	for s.i < len(s.b) && s.b[s.i] != '"' {
		s.i++
	}
	k := s.b[start:s.i]
	s.expect('"')
	s.expect(':')
	return k
}

// plain reads a string of printable ASCII without escapes and returns its
// bytes, a slice of the document. It is for keys, kinds, digests and
// base64, which json.Marshal writes so. (It must refuse control bytes:
// base64 decoding would skip a raw newline that JSON forbids.)
func (s *scanner) plain() []byte {
	start, ok := s.plainPrefix()
	if !ok {
		s.fail()
		return nil
	}
	return s.b[start : s.i-1]
}

// plainPrefix reads a quote and the plain bytes after it, and reports
// whether the closing quote came next (and was read). It returns where the
// string's bytes start.
func (s *scanner) plainPrefix() (start int, closed bool) {
	s.expect('"')
	start = s.i
	for s.i < len(s.b) && plainByte[s.b[s.i]] {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '"' {
		s.i++
		return start, true
	}
	return start, false
}

// str reads a string.
func (s *scanner) str() string {
	start, closed := s.plainPrefix()
	if closed {
		return string(s.b[start : s.i-1])
	}
	return string(s.unescape(start))
}

// plainByte is true for the bytes that stand for themselves in a string
// and need no check: printable ASCII but the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// unescape reads the rest of a string that started at start and returns
// its value in s.buf. It accepts the escapes json.Marshal writes, and \/,
// and multi-byte UTF-8 characters, as encoding/json decodes them; it fails
// on invalid UTF-8 and on surrogates, which encoding/json would replace
// with U+FFFD.
func (s *scanner) unescape(start int) []byte {
	v := append(s.buf[:0], s.b[start:s.i]...)
	for s.i < len(s.b) {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			s.buf = v
			return v
		case c == '\\' && s.i+1 < len(s.b):
			s.i += 2
			v = s.escape(v, s.b[s.i-1])
		case c < ' ' || c == '\\':
			s.fail()
		case c < utf8.RuneSelf:
			v = append(v, c)
			s.i++
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n == 1 {
				s.fail()
				return nil
			}
			v = append(v, s.b[s.i:s.i+n]...)
			s.i += n
		}
	}
	s.fail()
	return nil
}

// escape appends the character of the escape \c, whose c has been read.
func (s *scanner) escape(v []byte, c byte) []byte {
	switch c {
	case '"', '\\', '/':
		return append(v, c)
	case 'b':
		return append(v, '\b')
	case 'f':
		return append(v, '\f')
	case 'n':
		return append(v, '\n')
	case 'r':
		return append(v, '\r')
	case 't':
		return append(v, '\t')
	case 'u':
		var r rune
		for k := 0; k < 4 && s.ok; k++ {
			if s.i == len(s.b) || unhex(s.b[s.i]) > 15 {
				s.fail()
				break
			}
			r = r<<4 | rune(unhex(s.b[s.i]))
			s.i++
		}
		if !utf16.IsSurrogate(r) {
			return utf8.AppendRune(v, r)
		}
	}
	s.fail()
	return v
}

// kind reads a kind by its name.
func (s *scanner) kind() Kind {
	name := s.plain()
	for k := KindDir; k.valid(); k++ {
		if string(name) == kindNames[k] {
			return k
		}
	}
	s.fail()
	return 0
}

// digest reads "sha256:" followed by 64 lowercase hex digits, the only
// form ParseDigest accepts.
func (s *scanner) digest() Digest {
	var d Digest
	v := s.plain()
	h, ok := bytes.CutPrefix(v, []byte(DigestPrefix))
	if !ok || len(h) != 2*len(d) {
		s.fail()
		return d
	}
	for i := range d {
		hi, lo := unhex(h[2*i]), unhex(h[2*i+1])
		if hi > 15 || lo > 15 {
			s.fail()
			return d
		}
		d[i] = hi<<4 | lo
	}
	return d
}

// unhex returns the value of a lowercase hex digit, or 255. (\u escapes
// may use uppercase; json.Marshal writes lowercase, so they fall back.)
func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 255
}

// integer reads an integer in JSON's syntax without fraction or exponent,
// and a minus sign only if signed, and returns its magnitude, at most
// limit, and sign.
func (s *scanner) integer(signed bool, limit uint64) (v uint64, neg bool) {
	if s.peek() == '-' && signed {
		neg = true
		s.i++
	}
	start := s.i
	for s.i < len(s.b) && s.i-start < maxDigits {
		d := s.b[s.i] - '0'
		if d > 9 {
			break
		}
		v = v*10 + uint64(d)
		s.i++
	}
	n := s.i - start
	if n == 0 || n > 1 && s.b[start] == '0' || v > limit {
		s.fail()
	}
	return v, neg
}

// maxDigits is the most digits integer reads: any 19 digits fit in a uint64
// without overflow, and every limit is below 10¹⁹. A 20th digit is left
// unread, where it fails as what follows the number.
const maxDigits = 19

func (s *scanner) int64() int64 {
	v, neg := s.integer(true, 1<<63)
	switch {
	case neg:
		return -int64(v) // for 1<<63, int64(v) is math.MinInt64 and so is its negation
	case v > math.MaxInt64:
		s.fail()
		return 0
	}
	return int64(v)
}

func (s *scanner) int() int {
	v := s.int64()
	if int64(int(v)) != v {
		s.fail()
	}
	return int(v)
}

func (s *scanner) uint32() uint32 {
	v, _ := s.integer(false, math.MaxUint32)
	return uint32(v)
}
