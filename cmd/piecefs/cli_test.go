package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		status int
		stdout string // substring
		stderr string // substring
	}{
		{"no arguments", nil, exitUsage, "Commands:", ""},
		{"help", []string{"--help"}, exitOK, "mount", ""},
		{"unknown command", []string{"frob"}, exitUsage, "", "unknown command"},
		{"mount help", []string{"mount", "--help"}, exitOK, "-memory-cache", ""},
		{"publish help", []string{"publish", "--help"}, exitOK, "-piece-size", ""},
		{"serve help", []string{"serve", "--help"}, exitOK, "-addr", ""},
		{"unknown flag", []string{"mount", "--frob", "x", "y"}, exitUsage, "", "flag provided but not defined"},
		{"missing arguments", []string{"mount", "http://127.0.0.1:1"}, exitUsage, "", "want 2 arguments"},
		{"bad size", []string{"mount", "--memory-cache", "lots", "http://127.0.0.1:1", "/x"}, exitUsage, "", "size"},
		{"bad digest", []string{"mount", "--digest", "sha256:xyz", "http://127.0.0.1:1", "/x"}, exitUsage, "", "digest"},
		{"tag and digest", []string{"mount", "--tag", "a", "--digest", "sha256:" + strings.Repeat("0", 64), "http://127.0.0.1:1", "/x"}, exitUsage, "", "exclude"},
		{"bad origin", []string{"mount", "--cache", "", "ftp://x", "/x"}, exitError, "", ""},
		{"bad tag", []string{"publish", "--tag", "../x", "a", "b"}, exitUsage, "", "tag"},
		{"bad piece size", []string{"publish", "--piece-size", "1", "/nonexistent", "/tmp/x"}, exitError, "", "piece size"},
		{"publish missing source", []string{"publish", "/nonexistent-piecefs-src", t.TempDir()}, exitError, "", "nonexistent"},
		{"serve missing dir", []string{"serve", "/nonexistent-piecefs"}, exitError, "", "not a published directory"},
		{"bad log level", []string{"serve", "--log-level", "loud", "/"}, exitUsage, "", "level"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			status := run(tc.args, &stdout, &stderr)
			if status != tc.status {
				t.Errorf("status %d, want %d (stderr %q)", status, tc.status, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tc.stdout)
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.stderr)
			}
			if tc.status != exitOK && strings.Count(strings.TrimSpace(stderr.String()), "\n") > 0 && tc.stderr != "" {
				t.Errorf("error is not one line: %q", stderr.String())
			}
		})
	}
}
