package main

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noAWS keeps the machine's AWS configuration and instance role away from
// a test that opens s3:// origins.
func noAWS(t *testing.T) {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_PROFILE": "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "",
		"AWS_ROLE_ARN": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": ""} {
		t.Setenv(k, v)
	}
}

func parseOriginFlags(t *testing.T, args ...string) *originFlags {
	t.Helper()
	var o originFlags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return &o
}

func TestOriginFlagsHTTP(t *testing.T) {
	o := parseOriginFlags(t, "--mirror", "http://m1:8080/p", "--mirror", "https://m2")
	origin, mirrors, err := o.open(context.Background(), "http://origin:8080", quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if origin.URL != "http://origin:8080" || origin.Client != nil {
		t.Errorf("origin %+v, want the URL as given and no client", origin)
	}
	if len(mirrors) != 2 || mirrors[0].URL != "http://m1:8080/p" || mirrors[1].URL != "https://m2" || mirrors[0].Client != nil {
		t.Errorf("mirrors %+v, want m1 then m2 as given, no clients", mirrors)
	}
}

func TestOriginFlagsS3(t *testing.T) {
	noAWS(t)
	o := parseOriginFlags(t, "--s3-endpoint", "http://127.0.0.1:9000", "--mirror", "S3://other-bucket/x", "--mirror", "http://m")
	origin, mirrors, err := o.open(context.Background(), "s3://bucket/models/v1", quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if origin.URL != "http://127.0.0.1:9000/bucket/models/v1" || origin.Client == nil {
		t.Errorf("origin %+v, want path style under the endpoint with a signing client", origin)
	}
	if len(mirrors) != 2 || mirrors[0].URL != "http://127.0.0.1:9000/other-bucket/x" || mirrors[0].Client == nil || mirrors[1].Client != nil {
		t.Errorf("mirrors %+v", mirrors)
	}
	o = parseOriginFlags(t, "--s3-region", "eu-west-3")
	if origin, _, err = o.open(context.Background(), "s3://bucket", quietLog()); err != nil || origin.URL != "https://bucket.s3.eu-west-3.amazonaws.com" {
		t.Errorf("origin %+v, %v; want virtual-hosted in eu-west-3", origin, err)
	}
}

func TestOriginFlagsErrors(t *testing.T) {
	noAWS(t)
	cases := []struct {
		args    []string
		primary string
		want    string
	}{
		{[]string{"--s3-endpoint", "http://127.0.0.1:9000"}, "http://origin", "none is given"},
		{[]string{"--s3-region", "eu-west-1", "--mirror", "http://m"}, "http://origin", "none is given"},
		{nil, "s3://Bad_Bucket/x", "bucket name"},
		{[]string{"--mirror", "s3://ok-bucket/a//b"}, "http://origin", "mirror: "},
		{[]string{"--s3-endpoint", "localhost:9000"}, "s3://bucket/x", "s3 endpoint"},
	}
	for _, c := range cases {
		o := parseOriginFlags(t, c.args...)
		if _, _, err := o.open(context.Background(), c.primary, quietLog()); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q %s: %v; want an error with %q", c.args, c.primary, err, c.want)
		}
	}
	var o originFlags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.register(fs)
	if err := fs.Parse([]string{"--mirror", ""}); err == nil {
		t.Error("--mirror '' accepted")
	}
}
