package harness

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requireNet skips a test that makes network namespaces when it cannot
// (not root, no ip or nsenter), and fails it with CI=true.
func requireNet(t *testing.T) {
	t.Helper()
	err := NetTools()
	if err == nil && os.Geteuid() != 0 {
		err = errors.New("network namespaces need root")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (required with CI=true)", err)
		}
		t.Skip(err)
	}
}

// TestNetwork makes two hosts, serves nginx in one, fetches from it in the
// other with both Host.DialContext and a program run with Host.Command,
// checks that neither host has a route out, and that Close deletes every
// namespace.
func TestNetwork(t *testing.T) {
	requireNet(t)
	requireNginx(t)
	ctx := timeout(t, time.Minute)
	n, err := NewNetwork(ctx, "origin", "client")
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = n.Close()
		}
	})
	origin, client := n.Host("origin"), n.Host("client")
	if origin.Addr != "10.213.0.1" || client.Addr != "10.213.0.2" || n.Host("switch") != nil {
		t.Fatalf("hosts %+v %+v, want 10.213.0.1 and .2", origin, client)
	}
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ng, err := StartNginx(ctx, NginxOptions{Dir: filepath.Join(t.TempDir(), "nginx"), Host: origin, Sites: []NginxSite{{Root: root, ReadyPath: "/f"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ng.Stop(context.Background(), KillWait) }()
	if want := "http://10.213.0.1:8080"; ng.URLs[0] != want {
		t.Errorf("nginx URL %s, want %s", ng.URLs[0], want)
	}
	resp, err := client.HTTPClient().Get(ng.URLs[0] + "/f")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "hello\n" {
		t.Errorf("GET /f from the client host: %q, %v; want \"hello\\n\"", body, err)
	}
	route := runIn(t, client, "ip", "-4", "route", "show")
	if strings.Contains(route, "default") || !strings.Contains(route, "10.213.0.0/24 dev eth0") {
		t.Errorf("client routes:\n%s\nwant only the network's own", route)
	}
	if ns := strings.TrimSpace(runIn(t, origin, "ip", "netns", "identify")); ns != origin.Netns {
		t.Errorf("ip netns identify in the origin host: %q, want %q", ns, origin.Netns)
	}
	if err := ng.Stop(context.Background(), KillWait); err != nil {
		t.Error(err)
	}
	if err := n.Close(); err != nil {
		t.Error(err)
	}
	closed = true
	for _, h := range append(n.Hosts, &Host{Netns: n.prefix + "switch"}) {
		if _, err := os.Stat(h.Path()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after Close: %v, want it gone", h.Path(), err)
		}
	}
}

// runIn runs a program in h and returns its stdout.
func runIn(t *testing.T, h *Host, name string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	p, err := Run(timeout(t, 10*time.Second), h.Command(Command{Path: name, Args: args, Stdout: &out}))
	if err != nil {
		t.Fatalf("%s %v in %s: %v\n%s", name, args, h.Name, err, stderrOf(p))
	}
	return out.String()
}

// TestNewNetworkNames refuses names that would break a namespace's name
// and leaves nothing behind.
func TestNewNetworkNames(t *testing.T) {
	requireNet(t)
	for _, names := range [][]string{{"a", "a"}, {"a/b"}, {""}, {"switch"}, nil} {
		if n, err := NewNetwork(timeout(t, 10*time.Second), names...); err == nil {
			_ = n.Close()
			t.Errorf("NewNetwork(%q) succeeded, want an error", names)
		}
	}
	ents, _ := os.ReadDir(NetnsDir)
	for _, e := range ents {
		if m := netnsName.FindStringSubmatch(e.Name()); m != nil && m[1] == strconv.Itoa(os.Getpid()) {
			t.Errorf("%s left behind", e.Name())
		}
	}
}
