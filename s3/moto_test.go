package s3

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// motoServer is a moto_server on 127.0.0.1 with authentication on, and the
// key of a user allowed everything in S3.
type motoServer struct {
	endpoint    string // http://127.0.0.1:PORT
	id, secret  string
	setupScript string // testdata/moto.py
}

// requireMoto fails the test on CI, and skips it elsewhere, when
// moto_server or boto3 is missing.
func requireMoto(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err == nil {
		err = exec.Command("python3", "-c", "import boto3").Run()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("moto_server and boto3 are needed (pip install 'moto[server]' boto3): %v", err)
		}
		t.Skipf("moto_server and boto3 are needed (pip install 'moto[server]' boto3): %v", err)
	}
	return bin
}

// startMoto starts moto_server on a free port, stops it (by its PID) when
// the test ends, and sets it up with setup.
func startMoto(t *testing.T) *motoServer {
	t.Helper()
	bin := requireMoto(t)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		t.Fatalf("start moto_server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	m := &motoServer{endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), setupScript: filepath.Join("testdata", "moto.py")}
	if err := waitHTTP(m.endpoint, 60*time.Second); err != nil {
		t.Fatalf("moto_server: %v", err)
	}
	out := m.python(t, "setup", m.endpoint)
	var key struct{ ID, Secret string }
	if err := json.Unmarshal(out, &key); err != nil || key.ID == "" {
		t.Fatalf("moto.py setup printed %q: %v", out, err)
	}
	m.id, m.secret = key.ID, key.Secret
	return m
}

// upload puts every file under dir into bucket/prefix, creating bucket.
func (m *motoServer) upload(t *testing.T, bucket, prefix, dir string) {
	t.Helper()
	m.python(t, "upload", m.endpoint, m.id, m.secret, bucket, prefix, dir)
}

func (m *motoServer) python(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "python3", append([]string{m.setupScript}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_EC2_METADATA_DISABLED=true")
	var stderr []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	if err != nil {
		t.Fatalf("moto.py %s: %v\n%s", args[0], err, stderr)
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls url until anything answers.
func waitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer at %s within %v: %w", url, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
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
