package harness

import "testing"

func TestParseServeLine(t *testing.T) {
	for _, tt := range []struct {
		line, dir, url string
		ok             bool
	}{
		{"serving /o u t at http://127.0.0.1:8080", "/o u t", "http://127.0.0.1:8080", true},
		{"serving /o at http://0.0.0.0:8080", "", "", false},
		{"serving /o at http://127.0.0.1:", "", "", false},
		{"mounted " + digest + " at /m", "", "", false},
	} {
		dir, url, ok := ParseServeLine(tt.line)
		if dir != tt.dir || url != tt.url || ok != tt.ok {
			t.Errorf("ParseServeLine(%q) = %q, %q, %v; want %q, %q, %v", tt.line, dir, url, ok, tt.dir, tt.url, tt.ok)
		}
	}
}

func TestParseReadyLine(t *testing.T) {
	for _, tt := range []struct {
		line, digest, dir string
		ok                bool
	}{
		{"mounted " + digest + " at /m n", digest, "/m n", true},
		{"mounted " + digest + " at ", "", "", false},
		{"mounted sha256:abc at /m", "", "", false},
		{"serving /x at http://127.0.0.1:1", "", "", false},
	} {
		d, dir, ok := ParseReadyLine(tt.line)
		if d != tt.digest || dir != tt.dir || ok != tt.ok {
			t.Errorf("ParseReadyLine(%q) = %q, %q, %v; want %q, %q, %v", tt.line, d, dir, ok, tt.digest, tt.dir, tt.ok)
		}
	}
}
