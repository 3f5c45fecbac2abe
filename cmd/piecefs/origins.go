package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"github.com/piecefs/piecefs/fetch"
	"github.com/piecefs/piecefs/s3"
	"github.com/sirupsen/logrus"
)

// originFlags are the flags that say where a publication is read from.
type originFlags struct {
	mirrors    []string // --mirror, in the order given
	s3Endpoint string   // --s3-endpoint: an S3-compatible server, path style
	s3Region   string   // --s3-region
}

func (o *originFlags) register(fs *flag.FlagSet) {
	fs.Func("mirror", "another origin holding the same publication, tried when the origin fails; http(s):// or s3:// (repeatable)", func(s string) error {
		if s == "" {
			return errors.New("empty URL")
		}
		o.mirrors = append(o.mirrors, s)
		return nil
	})
	fs.StringVar(&o.s3Endpoint, "s3-endpoint", "", "base `URL` of an S3-compatible server for s3:// origins, addressed path style (http://127.0.0.1:9000); default AWS S3, virtual-hosted")
	fs.StringVar(&o.s3Region, "s3-region", "", "AWS region `NAME` of s3:// origins; default the AWS configuration's (AWS_REGION, ~/.aws/config), else "+s3.DefaultRegion)
}

// given reports whether any of the flags was set.
func (o *originFlags) given() bool {
	return len(o.mirrors) > 0 || o.s3Endpoint != "" || o.s3Region != ""
}

// fetchOptions opens the origin primary and the mirrors into the fields of
// fetch.Options that say where to fetch from, on top of base.
func (o *originFlags) fetchOptions(ctx context.Context, primary string, base fetch.Options, log logrus.FieldLogger) (string, fetch.Options, error) {
	origin, mirrors, err := o.open(ctx, primary, log)
	if err != nil {
		return "", base, err
	}
	base.Client, base.Name, base.Mirrors = origin.Client, origin.Name, mirrors
	return origin.URL, base, nil
}

// open returns the origin primary and the mirrors. An http(s) URL is
// passed through with a nil Client (the fetcher's own); an s3:// URL is
// opened with s3.Open, which resolves credentials and brings a client that
// signs requests.
func (o *originFlags) open(ctx context.Context, primary string, log logrus.FieldLogger) (fetch.Origin, []fetch.Origin, error) {
	urls := append([]string{primary}, o.mirrors...)
	if (o.s3Endpoint != "" || o.s3Region != "") && !anyS3(urls) {
		return fetch.Origin{}, nil, errors.New("--s3-endpoint and --s3-region apply to s3:// origins, and none is given")
	}
	origin, err := o.openOne(ctx, primary, log)
	if err != nil {
		return fetch.Origin{}, nil, err
	}
	var mirrors []fetch.Origin
	for _, m := range o.mirrors {
		mo, err := o.openOne(ctx, m, log)
		if err != nil {
			return fetch.Origin{}, nil, fmt.Errorf("mirror: %w", err)
		}
		mirrors = append(mirrors, mo)
	}
	return origin, mirrors, nil
}

func (o *originFlags) openOne(ctx context.Context, raw string, log logrus.FieldLogger) (fetch.Origin, error) {
	if !isS3(raw) {
		return fetch.Origin{URL: raw}, nil
	}
	so, err := s3.Open(ctx, raw, s3.Options{Endpoint: o.s3Endpoint, Region: o.s3Region, Log: log.WithField("component", "s3")})
	if err != nil {
		return fetch.Origin{}, err
	}
	return fetch.Origin{URL: so.URL, Client: so.Client, Name: raw}, nil
}

// isS3 reports whether raw is an s3:// URL (the scheme in any case).
func isS3(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && strings.EqualFold(u.Scheme, "s3")
}

func anyS3(urls []string) bool {
	for _, u := range urls {
		if isS3(u) {
			return true
		}
	}
	return false
}
