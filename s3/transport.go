package s3

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// emptyPayloadHash is the hex sha256 of the empty body of a GET or HEAD.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// transport signs each request for the origin, unless it has no
// credentials, and turns refusals into errors.
type transport struct {
	base   http.RoundTripper
	origin string                  // the s3:// URL, for errors
	region string                  // the signing region
	creds  aws.CredentialsProvider // nil: requests go unsigned
	signer *v4.Signer
	now    func() time.Time
}

var _ http.RoundTripper = (*transport)(nil)

func newTransport(base http.RoundTripper, origin, region string, creds aws.CredentialsProvider) *transport {
	// S3 does not escape the path a second time for its canonical request.
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	return &transport{base: base, origin: origin, region: region, creds: creds, signer: signer, now: time.Now}
}

// RoundTrip implements http.RoundTripper. It leaves req as it is and signs
// a clone. A 401 or 403 answer becomes an *AccessError, and an answer that
// names another region for the bucket a *RegionError.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	c, err := t.sign(r)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		e := readError(resp)
		return nil, &AccessError{Origin: t.origin, Status: resp.StatusCode, Code: e.Code, Message: e.Message, Source: c.Source, KeyID: c.AccessKeyID}
	case resp.StatusCode == http.StatusMovedPermanently || resp.StatusCode == http.StatusBadRequest:
		if other := resp.Header.Get("X-Amz-Bucket-Region"); other != "" && other != t.region {
			resp.Body.Close()
			return nil, &RegionError{Origin: t.origin, Region: t.region, Bucket: other}
		}
	}
	if resp.StatusCode == http.StatusBadRequest {
		return t.badRequest(resp, c)
	}
	return resp, nil
}

// credentialCodes are the codes of S3's 400 answers that refuse the
// request's credentials rather than the request.
var credentialCodes = map[string]bool{"ExpiredToken": true, "InvalidToken": true, "TokenRefreshRequired": true}

// badRequest turns a 400 answer that refuses the credentials into an
// *AccessError, and hands any other back with its body intact.
func (t *transport) badRequest(resp *http.Response, c aws.Credentials) (*http.Response, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, nil
	}
	if e := parseError(body); credentialCodes[e.Code] {
		return nil, &AccessError{Origin: t.origin, Status: resp.StatusCode, Code: e.Code, Message: e.Message, Source: c.Source, KeyID: c.AccessKeyID}
	}
	return resp, nil
}

// sign adds the signature headers to r and returns the credentials it used,
// the zero value when there are none.
func (t *transport) sign(r *http.Request) (aws.Credentials, error) {
	if t.creds == nil {
		return aws.Credentials{}, nil
	}
	c, err := t.creds.Retrieve(r.Context())
	if err != nil {
		return aws.Credentials{}, fmt.Errorf("%s: refresh AWS credentials: %w", t.origin, err)
	}
	if c.Source == "" {
		c.Source = "the AWS credential chain"
	}
	r.Header.Set("X-Amz-Content-Sha256", emptyPayloadHash)
	if err := t.signer.SignHTTP(r.Context(), c, r, emptyPayloadHash, "s3", t.region, t.now()); err != nil {
		return aws.Credentials{}, fmt.Errorf("%s: sign request: %w", t.origin, err)
	}
	return c, nil
}

// CloseIdleConnections closes the base transport's idle connections, so
// that http.Client.CloseIdleConnections reaches them.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
