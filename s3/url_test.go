package s3

import (
	"strings"
	"testing"
)

func TestParseLocation(t *testing.T) {
	good := []struct{ in, bucket, prefix string }{
		{"s3://my-bucket", "my-bucket", ""},
		{"s3://my-bucket/", "my-bucket", ""},
		{"s3://my-bucket/models/v1", "my-bucket", "models/v1"},
		{"s3://my-bucket/models/v1/", "my-bucket", "models/v1"},
		{"s3://a.b-c/x_y~z.1", "a.b-c", "x_y~z.1"},
		{"s3://abc/" + strings.Repeat("p", 300), "abc", strings.Repeat("p", 300)},
	}
	for _, c := range good {
		l, err := parseLocation(c.in)
		if err != nil || l.bucket != c.bucket || l.prefix != c.prefix {
			t.Errorf("parseLocation(%q) = %+v, %v; want bucket %q prefix %q", c.in, l, err, c.bucket, c.prefix)
		}
	}
	bad := []struct{ in, why string }{
		{"http://bucket/x", "s3://"},
		{"s3:///x", "3 to 63"},
		{"s3://ab/x", "3 to 63"},
		{"s3://" + strings.Repeat("a", 64), "3 to 63"},
		{"s3://My-Bucket/x", "not allowed"},
		{"s3://my_bucket/x", "not allowed"},
		{"s3://-bucket/x", "begin and end"},
		{"s3://bucket-/x", "begin and end"},
		{"s3://a..b/x", "dot"},
		{"s3://a.-b/x", "dot"},
		{"s3://192.168.1.1/x", "IP address"},
		{"s3://xn--bucket/x", "reserved"},
		{"s3://sthree-bucket/x", "reserved"},
		{"s3://bucket--x-s3/x", "directory buckets"},
		{"s3://bucket:9000/x", "host and port"},
		{"s3://bucket:/x", "host and port"},
		{"s3://user:pw@bucket/x", "credentials"},
		{"s3://bucket/x?versionId=1", "query"},
		{"s3://bucket/x?", "query"},
		{"s3://bucket/x#frag", "fragment"},
		{"s3://bucket/a//b", "empty path segment"},
		{"s3://bucket/a/../b", `".."`},
		{"s3://bucket/./b", `"."`},
		{"s3://bucket/a b", "not allowed"},
		{"s3://bucket/a%2Fb/c", "percent-encoded"},
		{"s3://bucket/a%41", "percent-encoded"},
		{"s3://bucket/a+b", "not allowed"},
		{"s3://bucket/caf\u00e9", "not allowed"},
	}
	for _, c := range bad {
		l, err := parseLocation(c.in)
		if err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("parseLocation(%q) = %+v, %v; want an error mentioning %q", c.in, l, err, c.why)
		}
	}
}

func TestBaseURL(t *testing.T) {
	cases := []struct{ loc, endpoint, region, want string }{
		{"s3://bucket/models/v1", "", "eu-west-1", "https://bucket.s3.eu-west-1.amazonaws.com/models/v1"},
		{"s3://bucket", "", "us-east-1", "https://bucket.s3.us-east-1.amazonaws.com"},
		{"s3://my.bucket/p", "", "us-east-1", "https://s3.us-east-1.amazonaws.com/my.bucket/p"},
		{"s3://bucket/p", "", "cn-north-1", "https://bucket.s3.cn-north-1.amazonaws.com.cn/p"},
		{"s3://bucket/p", "http://127.0.0.1:9000", "us-east-1", "http://127.0.0.1:9000/bucket/p"},
		{"s3://bucket/p", "http://127.0.0.1:9000/", "us-east-1", "http://127.0.0.1:9000/bucket/p"},
		{"s3://bucket", "https://minio.example/s3/", "x", "https://minio.example/s3/bucket"},
		{"s3://my.bucket/p", "http://[::1]:9000", "x", "http://[::1]:9000/my.bucket/p"},
	}
	for _, c := range cases {
		l, err := parseLocation(c.loc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := baseURL(l, c.endpoint, c.region)
		if err != nil || got != c.want {
			t.Errorf("baseURL(%s, %q, %q) = %q, %v; want %q", c.loc, c.endpoint, c.region, got, err, c.want)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, bad := range []string{"127.0.0.1:9000", "ftp://host", "http://", "http://u:p@host", "http://host/?x=1", "http://host/#f", "http://host/a b", "http://host/a//b"} {
		if got, err := parseEndpoint(bad); err == nil {
			t.Errorf("parseEndpoint(%q) = %q, want an error", bad, got)
		}
	}
}
