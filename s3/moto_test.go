package s3

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// motoServer is a moto_server on 127.0.0.1 with authentication on, and the
// key of a user allowed everything in S3 (see harness.StartMoto).
type motoServer struct {
	m          *harness.Moto
	endpoint   string // http://127.0.0.1:PORT
	id, secret string
}

// startMoto starts moto_server with testdata/moto.py and stops it when the
// test ends. It fails the test on CI, and skips it elsewhere, when
// moto_server or boto3 is missing.
func startMoto(t *testing.T) *motoServer {
	t.Helper()
	if err := harness.MotoTools(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := harness.StartMoto(ctx, filepath.Join("testdata", "moto.py"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background(), harness.KillWait) })
	return &motoServer{m: m, endpoint: m.URL, id: m.ID, secret: m.Secret}
}

// upload puts every file under dir into bucket/prefix, creating bucket.
func (m *motoServer) upload(t *testing.T, bucket, prefix, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := m.m.Upload(ctx, bucket, prefix, dir); err != nil {
		t.Fatal(err)
	}
}

// isolate points the AWS SDK at empty config files and no instance role,
// so that the machine's own configuration never reaches a test, and sets
// the environment's credentials to id and secret ("" for none).
func isolate(t *testing.T, id, secret string) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, v := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_REGION", "AWS_DEFAULT_REGION"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_ACCESS_KEY_ID", id)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
}
