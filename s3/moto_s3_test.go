package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMoto reads a private bucket of a real S3-compatible server, moto,
// with its authentication on.
func TestMoto(t *testing.T) {
	m := startMoto(t)
	dir := t.TempDir()
	content := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	if err := os.MkdirAll(filepath.Join(dir, "tags"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tags", "latest"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	m.upload(t, "priv-bucket", "models/v1", dir)
	url := "s3://priv-bucket/models/v1"

	t.Run("signed", func(t *testing.T) {
		isolate(t, m.id, m.secret)
		o := open(t, url, m.endpoint)
		if want := m.endpoint + "/priv-bucket/models/v1"; o.URL != want {
			t.Errorf("URL %q, want %q", o.URL, want)
		}
		if got := get(t, o, "tags/latest", ""); !bytes.Equal(got, content) {
			t.Errorf("GET: %d bytes, want the %d uploaded", len(got), len(content))
		}
		if got := get(t, o, "tags/latest", "bytes=100-1099"); !bytes.Equal(got, content[100:1100]) {
			t.Errorf("GET with Range bytes=100-1099: %q…, want %q…", got[:min(len(got), 16)], content[100:116])
		}
	})
	t.Run("missing object", func(t *testing.T) {
		isolate(t, m.id, m.secret)
		resp, err := do(open(t, url, m.endpoint), "tags/none", "")
		if err != nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET a missing object: %v, %v; want the 404 as a response", resp, err)
		}
	})
	t.Run("shared credentials file", func(t *testing.T) {
		isolate(t, "", "")
		creds := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", m.id, m.secret)
		if err := os.WriteFile(os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), []byte(creds), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := get(t, open(t, url, m.endpoint), "tags/latest", "bytes=0-15"); !bytes.Equal(got, content[:16]) {
			t.Errorf("GET: %q, want %q", got, content[:16])
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		isolate(t, "", "")
		e := refused(t, open(t, url, m.endpoint))
		if !e.NoCredentials() || !strings.Contains(e.Error(), noCredentials) {
			t.Errorf("error %q: want it to say %q", e, noCredentials)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		isolate(t, m.id, "not-"+m.secret)
		e := refused(t, open(t, url, m.endpoint))
		if e.NoCredentials() || e.KeyID != m.id || e.Code != "SignatureDoesNotMatch" {
			t.Errorf("error %q (key %q, code %q): want key %s refused with SignatureDoesNotMatch", e, e.KeyID, e.Code, m.id)
		}
		for _, want := range []string{"priv-bucket", "EnvConfigCredentials", m.id, "were refused"} {
			if !strings.Contains(e.Error(), want) {
				t.Errorf("error %q: want %q in it", e, want)
			}
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		isolate(t, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
		if e := refused(t, open(t, url, m.endpoint)); e.Code != "InvalidAccessKeyId" {
			t.Errorf("error %q: want S3's code InvalidAccessKeyId", e)
		}
	})
}

func open(t *testing.T, url, endpoint string) Origin {
	t.Helper()
	o, err := Open(context.Background(), url, Options{Endpoint: endpoint})
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	return o
}

// get GETs rel under o, with a Range header if byteRange is not "".
func get(t *testing.T, o Origin, rel, byteRange string) []byte {
	t.Helper()
	resp, err := do(o, rel, byteRange)
	if err != nil {
		t.Fatalf("GET %s: %v", rel, err)
	}
	defer resp.Body.Close()
	want := http.StatusOK
	if byteRange != "" {
		want = http.StatusPartialContent
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != want {
		t.Fatalf("GET %s (Range %q): %s, %v; want %d\n%s", rel, byteRange, resp.Status, err, want, b)
	}
	return b
}

func do(o Origin, rel, byteRange string) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.URL+"/"+rel, nil)
	if err != nil {
		return nil, err
	}
	if byteRange != "" {
		req.Header.Set("Range", byteRange)
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, err
}

// refused GETs a file under o and returns the *AccessError it must fail
// with, permanent.
func refused(t *testing.T, o Origin) *AccessError {
	t.Helper()
	resp, err := do(o, "tags/latest", "")
	var e *AccessError
	switch {
	case err == nil:
		t.Fatalf("GET: %s, want an *AccessError", resp.Status)
	case !errors.As(err, &e):
		t.Fatalf("GET: %v (%T), want an *AccessError", err, err)
	case !e.Permanent() || e.Status != http.StatusForbidden:
		t.Errorf("error %q: status %d, permanent %v; want 403, permanent", e, e.Status, e.Permanent())
	}
	t.Logf("the error reads: %v", err)
	return e
}
