package s3

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// location is a parsed s3://BUCKET/PREFIX URL.
type location struct {
	bucket string
	prefix string // without leading or trailing slashes; "" for the bucket's root
}

// String returns the location as an s3:// URL.
func (l location) String() string {
	if l.prefix == "" {
		return "s3://" + l.bucket
	}
	return "s3://" + l.bucket + "/" + l.prefix
}

// parseLocation parses an s3://BUCKET[/PREFIX] URL strictly.
func parseLocation(raw string) (location, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return location{}, fmt.Errorf("origin %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "s3":
		return location{}, fmt.Errorf("origin %q: want an s3://BUCKET/PREFIX URL", raw)
	case u.User != nil:
		return location{}, fmt.Errorf("origin %q: an s3:// URL cannot carry credentials; they come from the AWS credential chain", raw)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "":
		return location{}, fmt.Errorf("origin %q: an s3:// URL cannot have a query or a fragment", raw)
	case u.Port() != "" || strings.HasSuffix(u.Host, ":"):
		return location{}, fmt.Errorf("origin %q: an s3:// URL has a bucket name, not a host and port (use --s3-endpoint for another server)", raw)
	}
	if err := validBucket(u.Host); err != nil {
		return location{}, fmt.Errorf("origin %q: %w", raw, err)
	}
	prefix := strings.Trim(u.Path, "/")
	if err := validPrefix(prefix); err != nil {
		return location{}, fmt.Errorf("origin %q: %w", raw, err)
	}
	if u.RawPath != "" { // "%2F" or "%41": the decoded path would not be the one sent
		return location{}, fmt.Errorf("origin %q: prefix: percent-encoded characters not allowed (use A-Z a-z 0-9 - . _ ~ and /)", raw)
	}
	return location{bucket: u.Host, prefix: prefix}, nil
}

// validBucket checks the naming rules of general purpose S3 buckets.
func validBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q: want 3 to 63 characters", b)
	}
	for _, c := range []byte(b) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return fmt.Errorf("bucket name %q: character %q not allowed (use a-z 0-9 . -)", b, c)
		}
	}
	switch {
	case !alnum(b[0]) || !alnum(b[len(b)-1]):
		return fmt.Errorf("bucket name %q: must begin and end with a letter or a digit", b)
	case strings.Contains(b, ".."), strings.Contains(b, ".-"), strings.Contains(b, "-."):
		return fmt.Errorf("bucket name %q: a dot must sit between letters or digits", b)
	case net.ParseIP(b) != nil:
		return fmt.Errorf("bucket name %q: must not look like an IP address", b)
	case strings.HasPrefix(b, "xn--"), strings.HasPrefix(b, "sthree-"):
		return fmt.Errorf("bucket name %q: the prefixes xn-- and sthree- are reserved", b)
	case strings.HasSuffix(b, "-s3alias"), strings.HasSuffix(b, "--ol-s3"), strings.HasSuffix(b, "--x-s3"):
		return fmt.Errorf("bucket name %q: names of access point aliases and directory buckets are not supported", b)
	}
	return nil
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// validPrefix checks a key prefix: segments of unreserved characters
// separated by single slashes, none of them "." or "..".
func validPrefix(p string) error {
	if p == "" {
		return nil
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			return fmt.Errorf("prefix %q: empty path segment", p)
		case ".", "..":
			return fmt.Errorf("prefix %q: %q is not allowed as a segment", p, seg)
		}
		for _, c := range []byte(seg) {
			if !unreserved(c) {
				return fmt.Errorf("prefix %q: character %q not allowed (use A-Z a-z 0-9 - . _ ~ and /)", p, c)
			}
		}
	}
	return nil
}

func unreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// baseURL is the http(s) URL that location is read at: path style under
// endpoint if it is set, else AWS's virtual-hosted style in region.
func baseURL(l location, endpoint, region string) (string, error) {
	var base string
	switch {
	case endpoint != "":
		e, err := parseEndpoint(endpoint)
		if err != nil {
			return "", err
		}
		base = e + "/" + l.bucket
	case strings.Contains(l.bucket, "."):
		base = "https://s3." + region + "." + awsDomain(region) + "/" + l.bucket
	default:
		base = "https://" + l.bucket + ".s3." + region + "." + awsDomain(region)
	}
	if l.prefix != "" {
		base += "/" + l.prefix
	}
	return base, nil
}

// awsDomain is the DNS suffix of S3's endpoints in region.
func awsDomain(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "amazonaws.com.cn"
	}
	return "amazonaws.com"
}

// parseEndpoint checks --s3-endpoint and returns it without trailing
// slashes.
func parseEndpoint(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("s3 endpoint %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("s3 endpoint %q: want an http:// or https:// URL", raw)
	case u.Host == "":
		return "", fmt.Errorf("s3 endpoint %q: no host", raw)
	case u.User != nil:
		return "", fmt.Errorf("s3 endpoint %q: must not carry a user or password", raw)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", fmt.Errorf("s3 endpoint %q: cannot have a query or a fragment", raw)
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		if err := validPrefix(p); err != nil {
			return "", fmt.Errorf("s3 endpoint %q: path: %w", raw, err)
		}
	}
	return strings.TrimRight(u.String(), "/"), nil
}
