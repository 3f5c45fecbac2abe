package s3

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// serve answers every request with h and records the last request's
// headers.
func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func client(creds aws.CredentialsProvider) *http.Client {
	return &http.Client{Transport: newTransport(http.DefaultTransport, "s3://bucket/p", "us-east-1", creds)}
}

var static = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")

func TestTransportSigns(t *testing.T) {
	var got http.Header
	s := serve(t, func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		io.WriteString(w, "ok")
	})
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/bucket/p/tags/latest", nil)
	req.Header.Set("Range", "bytes=0-1")
	resp, err := client(static).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	auth := got.Get("Authorization")
	for _, want := range []string{"AWS4-HMAC-SHA256", "Credential=AKIDEXAMPLE/", "/us-east-1/s3/aws4_request", "range", "x-amz-content-sha256", "x-amz-date"} {
		if !strings.Contains(auth, want) {
			t.Errorf("Authorization %q: want %q in it", auth, want)
		}
	}
	if h := got.Get("X-Amz-Content-Sha256"); h != emptyPayloadHash {
		t.Errorf("x-amz-content-sha256 %q, want the empty body's hash", h)
	}
	if req.Header.Get("Authorization") != "" {
		t.Error("the caller's request was modified")
	}
}

func TestTransportUnsigned(t *testing.T) {
	var auth []string
	s := serve(t, func(w http.ResponseWriter, r *http.Request) { auth = r.Header.Values("Authorization") })
	resp, err := client(nil).Get(s.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(auth) != 0 {
		t.Errorf("Authorization %q on a request without credentials", auth)
	}
}

func TestTransportRefused(t *testing.T) {
	body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>X</RequestId></Error>`
	cases := []struct {
		name   string
		status int
		body   string
		creds  aws.CredentialsProvider
		want   []string
	}{
		{"unsigned 403", 403, body, nil, []string{"s3://bucket/p: 403 Forbidden", noCredentials, "S3 says AccessDenied: Access Denied"}},
		{"signed 403", 403, body, static, []string{"credentials from StaticCredentials (access key AKIDEXAMPLE) were refused", "AccessDenied", "s3:ListBucket"}},
		{"401 without a body", 401, "", static, []string{"401 Unauthorized", "were refused"}},
		{"403 not XML", 403, "<html>forbidden</html>", nil, []string{noCredentials}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				io.WriteString(w, c.body)
			})
			resp, err := client(c.creds).Get(s.URL + "/x")
			var e *AccessError
			if !errors.As(err, &e) {
				t.Fatalf("Get: %v, %v; want an *AccessError", resp, err)
			}
			var p interface{ Permanent() bool }
			if !errors.As(err, &p) || !p.Permanent() {
				t.Errorf("%v: not permanent", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q: want %q in it", err, w)
				}
			}
			if strings.Contains(err.Error(), "<html>") {
				t.Errorf("error %q quotes a body that is not S3's", err)
			}
		})
	}
}

func TestTransportRegion(t *testing.T) {
	s := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amz-Bucket-Region", "eu-central-1")
		w.WriteHeader(http.StatusMovedPermanently)
	})
	_, err := client(static).Get(s.URL + "/x")
	var e *RegionError
	if !errors.As(err, &e) || !e.Permanent() || !strings.Contains(err.Error(), "--s3-region eu-central-1") {
		t.Fatalf("Get: %v; want a permanent *RegionError naming --s3-region eu-central-1", err)
	}
}

// TestTransportRefreshFails: credentials that cannot be refreshed fail the
// request, retryably: the next attempt may refresh them.
func TestTransportRefreshFails(t *testing.T) {
	s := serve(t, func(w http.ResponseWriter, r *http.Request) { t.Error("a request went out") })
	failing := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, errors.New("metadata service unreachable")
	})
	_, err := client(failing).Get(s.URL + "/x")
	var p interface{ Permanent() bool }
	if err == nil || !strings.Contains(err.Error(), "metadata service unreachable") || errors.As(err, &p) {
		t.Fatalf("Get: %v; want the refresh's error, not permanent", err)
	}
}

func TestOpenWithoutCredentials(t *testing.T) {
	isolate(t, "", "")
	start := time.Now()
	o, err := Open(context.Background(), "s3://bucket/p", Options{Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	if o.URL != "https://bucket.s3.eu-west-1.amazonaws.com/p" {
		t.Errorf("URL %q", o.URL)
	}
	if tr := o.Client.Transport.(*transport); tr.creds != nil || tr.region != "eu-west-1" {
		t.Errorf("transport: creds %v, region %q; want none, eu-west-1", tr.creds, tr.region)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %v without credentials", d)
	}
}

func TestOpenRegionFromEnvironment(t *testing.T) {
	isolate(t, "AKIDEXAMPLE", "secret")
	t.Setenv("AWS_REGION", "ap-south-1")
	o, err := Open(context.Background(), "s3://bucket", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o.URL != "https://bucket.s3.ap-south-1.amazonaws.com" {
		t.Errorf("URL %q, want the region of AWS_REGION", o.URL)
	}
	t.Setenv("AWS_REGION", "")
	if o, err = Open(context.Background(), "s3://bucket", Options{}); err != nil || !strings.Contains(o.URL, "."+DefaultRegion+".") {
		t.Errorf("URL %q, %v; want region %s", o.URL, err, DefaultRegion)
	}
}

func TestOpenErrors(t *testing.T) {
	isolate(t, "", "")
	if _, err := Open(context.Background(), "s3://Bad_Bucket/p", Options{}); err == nil {
		t.Error("Open accepted a bad bucket name")
	}
	if _, err := Open(context.Background(), "s3://bucket/p", Options{Endpoint: "127.0.0.1:9000"}); err == nil || !strings.Contains(err.Error(), "s3 endpoint") {
		t.Errorf("Open with endpoint 127.0.0.1:9000: %v; want an error about the endpoint", err)
	}
	t.Setenv("AWS_PROFILE", "no-such-profile")
	if _, err := Open(context.Background(), "s3://bucket/p", Options{}); err == nil || !strings.Contains(err.Error(), "no-such-profile") {
		t.Errorf("Open with AWS_PROFILE=no-such-profile: %v; want an error naming the profile", err)
	}
}

func TestTransportBadRequest(t *testing.T) {
	expired := `<Error><Code>ExpiredToken</Code><Message>The provided token has expired.</Message></Error>`
	other := `<Error><Code>InvalidArgument</Code><Message>no</Message></Error>`
	for _, c := range []struct {
		body    string
		refused bool
	}{{expired, true}, {other, false}, {"not xml", false}} {
		s := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, c.body)
		})
		resp, err := client(static).Get(s.URL + "/x")
		var e *AccessError
		if c.refused {
			if !errors.As(err, &e) || e.Code != "ExpiredToken" || !strings.Contains(err.Error(), "were refused") {
				t.Errorf("400 %s: %v, want an *AccessError with ExpiredToken", c.body, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("400 %s: %v, want the response", c.body, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || string(b) != c.body {
			t.Errorf("400 %s: got %s with body %q, want it as sent", c.body, resp.Status, b)
		}
	}
}
