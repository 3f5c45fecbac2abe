package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Moto is a moto_server (the S3-compatible server of Python's moto
// package) on 127.0.0.1, set up by a boto3 script with request
// authentication on, and the key of a user allowed everything in S3.
type Moto struct {
	*Process
	URL        string // http://127.0.0.1:PORT, the endpoint
	ID, Secret string // the user's access key
	script     string
}

// MotoTools reports whether moto_server and boto3 are installed.
func MotoTools() error {
	if _, err := exec.LookPath("moto_server"); err != nil {
		return fmt.Errorf("moto_server is not installed (pip install 'moto[server]'): %w", err)
	}
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		return fmt.Errorf("boto3 is not installed (pip install boto3): %w", err)
	}
	return nil
}

// StartMoto starts moto_server on a free loopback port, waits within ctx
// until it answers, and runs `python3 script setup URL`, which must turn
// authentication on and print the user's key as {"ID": …, "Secret": …}.
// On failure nothing it started is left running.
func StartMoto(ctx context.Context, script string) (*Moto, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return nil, err
	}
	m := &Moto{URL: LoopbackURL(ports[0]), script: script}
	if m.Process, err = Start(Command{Path: "moto_server", Args: []string{"-H", "127.0.0.1", "-p", strconv.Itoa(ports[0])}}); err != nil {
		return nil, err
	}
	fail := func(err error) (*Moto, error) {
		_ = m.Stop(context.Background(), KillWait) // the error at hand says more
		return nil, err
	}
	if err := WaitHTTP(ctx, m.URL+"/moto-api/", m.Process); err != nil {
		return fail(fmt.Errorf("moto_server: %w", err))
	}
	out, err := m.Script(ctx, "setup", m.URL)
	if err != nil {
		return fail(err)
	}
	var key struct{ ID, Secret string }
	if err := json.Unmarshal(out, &key); err != nil || key.ID == "" {
		return fail(fmt.Errorf("%s setup printed %q: %w", script, out, errors.Join(err, errors.New("no key"))))
	}
	m.ID, m.Secret = key.ID, key.Secret
	return m, nil
}

// Upload puts every file under dir into s3://bucket/prefix with the
// user's key, as `aws s3 sync dir s3://bucket/prefix` would, and returns
// what the script printed (the number of objects).
func (m *Moto) Upload(ctx context.Context, bucket, prefix, dir string) (string, error) {
	out, err := m.Script(ctx, "upload", m.URL, m.ID, m.Secret, bucket, prefix, dir)
	return strings.TrimSpace(string(out)), err
}

// Script runs `python3 script ARGS...` within ctx, with the instance
// metadata service off, and returns its stdout; its error quotes stderr.
func (m *Moto) Script(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "python3", append([]string{m.script}, args...)...)
	cmd.Env = append(cmd.Environ(), "AWS_EC2_METADATA_DISABLED=true")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return nil, fmt.Errorf("%s %s: %w\n%s", m.script, args[0], err, Tail(stderr, tailSize))
	}
	return out, nil
}
