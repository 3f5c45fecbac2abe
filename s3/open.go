package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/sirupsen/logrus"
)

// DefaultRegion is the region used when neither Options.Region nor the AWS
// configuration (AWS_REGION, AWS_DEFAULT_REGION, the shared config file)
// names one.
const DefaultRegion = "us-east-1"

// Options configure Open. The zero value reads a bucket on AWS.
type Options struct {
	// Endpoint is the base URL of an S3-compatible server
	// (http://127.0.0.1:9000), addressed path style; "" means AWS's S3,
	// addressed virtual-hosted style.
	Endpoint string
	// Region is the region requests are signed for and, without Endpoint,
	// sent to; "" means the AWS configuration's, else DefaultRegion.
	Region string
	// Transport sends the signed requests; nil means a clone of
	// http.DefaultTransport, which honours HTTP_PROXY, HTTPS_PROXY and
	// NO_PROXY.
	Transport http.RoundTripper
	// CredentialTimeout bounds the resolution of credentials in Open (an
	// instance role asks the metadata service); 0 means 10s.
	CredentialTimeout time.Duration
	// Log receives where the credentials came from; nil discards.
	Log logrus.FieldLogger
}

// Origin is an s3:// origin made reachable over HTTP: the base URL that the
// publication's layout lies under, and a client that signs its requests.
type Origin struct {
	// URL is the http(s) base URL: ENDPOINT/BUCKET/PREFIX, or
	// https://BUCKET.s3.REGION.amazonaws.com/PREFIX.
	URL string
	// Client signs every request it sends and returns an *AccessError for
	// an answer of 401 or 403.
	Client *http.Client
}

// Open parses rawURL, s3://BUCKET/PREFIX, resolves AWS credentials through
// the default chain and returns the Origin to read it at. Finding no
// credentials is not an error: the requests then go unsigned, and a
// refusal says that no credentials were found. A configuration that cannot
// be loaded (a profile that does not exist, say) is an error.
func Open(ctx context.Context, rawURL string, o Options) (Origin, error) {
	loc, err := parseLocation(rawURL)
	if err != nil {
		return Origin{}, err
	}
	log := o.Log
	if log == nil {
		log = discard()
	}
	cfg, err := loadConfig(ctx, o.Region)
	if err != nil {
		return Origin{}, fmt.Errorf("%s: load the AWS configuration: %w", loc, err)
	}
	region := cfg.Region
	if region == "" {
		region = DefaultRegion
	}
	base, err := baseURL(loc, o.Endpoint, region)
	if err != nil {
		return Origin{}, fmt.Errorf("%s: %w", loc, err)
	}
	creds := resolve(ctx, cfg.Credentials, o.CredentialTimeout, log.WithFields(logrus.Fields{"origin": loc.String(), "url": base, "region": region}))
	rt := o.Transport
	if rt == nil {
		rt = defaultTransport()
	}
	return Origin{URL: base, Client: &http.Client{Transport: newTransport(rt, loc.String(), region, creds)}}, nil
}

func loadConfig(ctx context.Context, region string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	return config.LoadDefaultConfig(ctx, opts...)
}

// resolve retrieves credentials from p once, within timeout, and logs
// where they came from. It returns the cached provider to sign with, or nil
// when none were found.
func resolve(ctx context.Context, p aws.CredentialsProvider, timeout time.Duration, log logrus.FieldLogger) aws.CredentialsProvider {
	if p == nil {
		log.Warn(noCredentials + "; requests go unsigned")
		return nil
	}
	if _, ok := p.(*aws.CredentialsCache); !ok {
		p = aws.NewCredentialsCache(p)
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := p.Retrieve(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("gave up after %v: %w", timeout, err)
		}
		log.WithError(err).Warn(noCredentials + "; requests go unsigned")
		return nil
	}
	if c.Source == "" {
		c.Source = "the AWS credential chain"
	}
	log.WithFields(logrus.Fields{"source": c.Source, "access_key": c.AccessKeyID}).Info("AWS credentials found; requests are signed")
	return p
}

// defaultTransport is a clone of http.DefaultTransport, tuned like the
// fetch package's default client: many pieces at a time from one host, and
// a bound on the wait for response headers.
func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 64
	t.MaxIdleConnsPerHost = 16
	t.ResponseHeaderTimeout = 15 * time.Second
	return t
}

func discard() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetLevel(logrus.PanicLevel)
	return l
}
