package s3

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// noCredentials is the phrase an AccessError uses when no credentials were
// found; tests and users can look for it.
const noCredentials = "no AWS credentials found (environment, shared config, instance role)"

// AccessError is a 401 or 403 answer to a request for the origin, or a 400
// whose code refuses the credentials (ExpiredToken, InvalidToken). Another
// attempt would only repeat it, so Permanent returns true.
type AccessError struct {
	Origin  string // the s3:// URL
	Status  int    // the HTTP status code
	Code    string // S3's error code (AccessDenied, SignatureDoesNotMatch, …), "" if the body had none
	Message string // S3's error message, "" if the body had none
	Source  string // where the credentials came from; "" when none were found and the request went unsigned
	KeyID   string // the access key ID that signed the request; "" when unsigned
}

// Error implements error. It says whether credentials were missing or
// which ones were refused, and quotes S3's code and message.
func (e *AccessError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d %s: ", e.Origin, e.Status, http.StatusText(e.Status))
	if e.Source == "" {
		b.WriteString(noCredentials + "; the unsigned request was refused")
	} else {
		fmt.Fprintf(&b, "credentials from %s (access key %s) were refused", e.Source, e.KeyID)
	}
	switch {
	case e.Code != "" && e.Message != "":
		fmt.Fprintf(&b, ": S3 says %s: %s", e.Code, e.Message)
	case e.Code != "" || e.Message != "":
		fmt.Fprintf(&b, ": S3 says %s", e.Code+e.Message)
	}
	if e.Code == "AccessDenied" && e.Source != "" {
		b.WriteString(" (S3 says so for a missing object too when the credentials may not list the bucket: s3:ListBucket)")
	}
	return b.String()
}

// Permanent reports that retrying the request would not help.
func (e *AccessError) Permanent() bool { return true }

// NoCredentials reports whether the request went unsigned because no
// credentials were found.
func (e *AccessError) NoCredentials() bool { return e.Source == "" }

// RegionError is an answer saying that the bucket is in another region
// than the one the request was signed for and sent to. It is permanent.
type RegionError struct {
	Origin string // the s3:// URL
	Region string // the region the request was made in
	Bucket string // the region S3 named for the bucket
}

// Error implements error.
func (e *RegionError) Error() string {
	return fmt.Sprintf("%s: the bucket is in region %s, not %s: use --s3-region %s", e.Origin, e.Bucket, e.Region, e.Bucket)
}

// Permanent reports that retrying the request would not help.
func (e *RegionError) Permanent() bool { return true }

// maxErrorBody bounds how much of an error answer is read for its code and
// message.
const maxErrorBody = 64 << 10

// s3Error is the body of S3's error answers.
type s3Error struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// readError reads and closes an error answer's body.
func readError(resp *http.Response) s3Error {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return s3Error{}
	}
	return parseError(b)
}

// parseError parses S3's XML error body; anything else gives the zero
// s3Error.
func parseError(b []byte) s3Error {
	var e s3Error
	if len(b) == 0 || xml.Unmarshal(b, &e) != nil {
		return s3Error{}
	}
	return e
}
