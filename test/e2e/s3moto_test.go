package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// motoScript prepares moto_server and uploads to it with boto3; the s3
// package's tests use the same script.
var motoScript = filepath.Join("..", "..", "s3", "testdata", "moto.py")

// motoServer is a moto_server on 127.0.0.1, a real S3-compatible server,
// with request authentication on, and the key of a user allowed s3:*.
type motoServer struct {
	endpoint   string // http://127.0.0.1:PORT, for --s3-endpoint
	id, secret string
}

// startMoto starts moto_server on a free port and stops it (by its PID)
// when the test ends. It fails the test on CI, and skips it elsewhere,
// when moto_server or boto3 is missing.
func startMoto(t *testing.T) *motoServer {
	t.Helper()
	requireTool(t, "moto_server")
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		missing(t, "boto3 is not installed (pip install boto3): %v", err)
	}
	ports, err := harness.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	m := &motoServer{endpoint: harness.LoopbackURL(ports[0])}
	p := startProc(t, "moto_server", "-H", "127.0.0.1", "-p", strconv.Itoa(ports[0]))
	t.Cleanup(func() { stopProc(p) })
	if err := harness.WaitHTTP(timeoutCtx(t, time.Minute), m.endpoint+"/moto-api/", p.Process); err != nil {
		t.Fatalf("moto_server: %v", err)
	}
	var key struct{ ID, Secret string }
	out := m.script(t, "setup", m.endpoint)
	if err := json.Unmarshal(out, &key); err != nil || key.ID == "" {
		t.Fatalf("moto.py setup printed %q: %v", out, err)
	}
	m.id, m.secret = key.ID, key.Secret
	return m
}

// upload puts every file under dir into s3://bucket/prefix as
// `aws s3 sync dir s3://bucket/prefix` would, with boto3 and the user's key.
func (m *motoServer) upload(t *testing.T, bucket, prefix, dir string) {
	t.Helper()
	out := m.script(t, "upload", m.endpoint, m.id, m.secret, bucket, prefix, dir)
	t.Logf("uploaded %s objects to s3://%s/%s", string(out[:len(out)-1]), bucket, prefix)
}

func (m *motoServer) script(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", append([]string{motoScript}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("moto.py %s: %v\n%s", args[0], err, tail(stderr))
	}
	return out
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
