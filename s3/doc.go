// Package s3 turns an s3://BUCKET/PREFIX origin into what the fetch package
// reads: an http(s) base URL and an *http.Client whose transport signs every
// request with AWS Signature Version 4. It imports nothing of piecefs; the
// command converts its Origin into a fetch.Origin.
//
// # Addressing
//
// Without an endpoint the bucket is reached virtual-hosted style,
// https://BUCKET.s3.REGION.amazonaws.com/PREFIX (path style on
// https://s3.REGION.amazonaws.com/BUCKET/PREFIX for a bucket name with a
// dot, which a virtual host's TLS certificate does not cover). With
// Options.Endpoint, for an S3-compatible store (MinIO, Ceph, moto, …), it is
// path style: ENDPOINT/BUCKET/PREFIX. PREFIX may hold only unreserved
// characters (A-Z a-z 0-9 - . _ ~) and '/', like the layout's own names, so
// the path that is signed is exactly the path that is sent.
//
// # Credentials
//
// [Open] resolves credentials once, within Options.CredentialTimeout, from
// the SDK's default chain (github.com/aws/aws-sdk-go-v2/config): the
// environment, the shared config and credentials files (AWS_PROFILE too),
// web identity and SSO, and the instance role. It logs where they came
// from. Credentials that expire are refreshed through an
// aws.CredentialsCache as requests need them. When none are found the
// requests go unsigned, so a public bucket still works.
//
// # Signing
//
// Each request is signed for service "s3" in the region: the payload hash
// is that of the empty body, sent as x-amz-content-sha256, and every header
// set before the transport, Range included, is signed. Signed requests
// carry an Authorization header, so shared HTTP caches on the way do not
// store their responses (unless an object was uploaded with a public
// Cache-Control: RFC 9111, section 3.5).
//
// # Errors
//
// A 401 or 403 answer, or a 400 whose code refuses the credentials
// (ExpiredToken, InvalidToken), is not returned as a response: the
// transport closes its body and returns an [*AccessError] that names the
// origin, says
// whether credentials were missing or which ones were refused, and quotes
// S3's error code and message. Its Permanent method returns true, so the
// fetcher does not retry what another attempt would only repeat. An answer
// that names another region for the bucket becomes a permanent
// [*RegionError] that says which --s3-region to use.
package s3
