package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// motoScript prepares moto_server and uploads to it with boto3; the s3
// package's tests use the same script.
var motoScript = filepath.Join("..", "..", "s3", "testdata", "moto.py")

// motoServer is a moto_server on 127.0.0.1, a real S3-compatible server,
// with request authentication on, and the key of a user allowed s3:* (see
// harness.StartMoto).
type motoServer struct {
	m          *harness.Moto
	endpoint   string // http://127.0.0.1:PORT, for --s3-endpoint
	id, secret string
}

// startMoto starts moto_server and stops it (by its PID) when the test
// ends. It fails the test on CI, and skips it elsewhere, when moto_server
// or boto3 is missing.
func startMoto(t *testing.T) *motoServer {
	t.Helper()
	if err := harness.MotoTools(); err != nil {
		missing(t, "%v", err)
	}
	m, err := harness.StartMoto(timeoutCtx(t, time.Minute), motoScript)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background(), harness.KillWait) })
	return &motoServer{m: m, endpoint: m.URL, id: m.ID, secret: m.Secret}
}

// upload puts every file under dir into s3://bucket/prefix as
// `aws s3 sync dir s3://bucket/prefix` would, with boto3 and the user's key.
func (m *motoServer) upload(t *testing.T, bucket, prefix, dir string) {
	t.Helper()
	n, err := m.m.Upload(timeoutCtx(t, toolTimeout), bucket, prefix, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("uploaded %s objects to s3://%s/%s", n, bucket, prefix)
}

// awsEnv is the environment of a piecefs that must find exactly the
// credentials id and secret in its environment ("" for none): the shared
// config files are empty ones and the instance role is off, so the
// machine's own AWS configuration never reaches it.
func awsEnv(t *testing.T, id, secret string) []string {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{
		"AWS_CONFIG_FILE=" + empty, "AWS_SHARED_CREDENTIALS_FILE=" + empty, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_PROFILE=", "AWS_SESSION_TOKEN=", "AWS_ROLE_ARN=", "AWS_WEB_IDENTITY_TOKEN_FILE=",
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=",
		"AWS_ACCESS_KEY_ID=" + id, "AWS_SECRET_ACCESS_KEY=" + secret,
	}
}
