package main

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	"github.com/piecefs/piecefs/meta"
)

// bundleRootfs is an image's etc/passwd and etc/group.
var bundleRootfs = fstest.MapFS{
	"etc/passwd": {Data: []byte(strings.Join([]string{
		"root:x:0:0:root:/root:/bin/sh",
		"# a comment",
		"daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
		"app:x:1000:1000:App:/home/app:/bin/sh",
		"short:x:7",
		"nohome:x:1001:100:::/bin/sh",
	}, "\n") + "\n")},
	"etc/group": {Data: []byte(strings.Join([]string{
		"root:x:0:",
		"users:x:100:app",
		"app:x:1000:",
		"video:x:44:daemon,app",
		"audio:x:29:nobody",
	}, "\n") + "\n")},
}

func TestResolveUser(t *testing.T) {
	tests := []struct {
		user       string
		uid, gid   uint32
		additional []uint32
		home       string
	}{
		{"", 0, 0, nil, "/root"},
		{"root", 0, 0, nil, "/root"},
		{"app", 1000, 1000, []uint32{100, 44}, "/home/app"},
		{"1000", 1000, 1000, []uint32{100, 44}, "/home/app"},
		{"app:video", 1000, 44, []uint32{100}, "/home/app"},
		{"app:29", 1000, 29, []uint32{100, 44}, "/home/app"},
		{"1000:1000", 1000, 1000, []uint32{100, 44}, "/home/app"},
		{"4242", 4242, 0, nil, "/"},         // no entry: gid 0
		{"4242:4343", 4242, 4343, nil, "/"}, // numeric group without an entry
		{"daemon", 1, 1, []uint32{44}, "/usr/sbin"},
		{"nohome", 1001, 100, nil, "/"},
	}
	for _, tt := range tests {
		u, home, err := resolveUser(tt.user, bundleRootfs)
		if err != nil {
			t.Errorf("resolveUser(%q): %v", tt.user, err)
			continue
		}
		want := specs.User{UID: tt.uid, GID: tt.gid, AdditionalGids: tt.additional}
		if u.UID != want.UID || u.GID != want.GID || !slices.Equal(u.AdditionalGids, want.AdditionalGids) || home != tt.home {
			t.Errorf("resolveUser(%q) = %+v, home %q; want %+v, home %q", tt.user, u, home, want, tt.home)
		}
	}
}

func TestResolveUserErrors(t *testing.T) {
	tests := []struct {
		user string
		fsys fstest.MapFS
		want string
	}{
		{"nobody", bundleRootfs, `no user "nobody" in the image's /etc/passwd`},
		{"app:wheel", bundleRootfs, `no group "wheel" in the image's /etc/group`},
		{"app", fstest.MapFS{}, `no user "app"`}, // no etc/passwd at all
		{"short", bundleRootfs, `no user "short"`},
	}
	for _, tt := range tests {
		_, _, err := resolveUser(tt.user, tt.fsys)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("resolveUser(%q): error %v, want %q in it", tt.user, err, tt.want)
		}
	}
	// Numeric ids need no files, and pass over files that cannot be read
	// (here directories); names need them.
	broken := fstest.MapFS{"etc/passwd/x": {}, "etc/group/x": {}}
	for _, fsys := range []fstest.MapFS{{}, broken} {
		if u, home, err := resolveUser("5:6", fsys); err != nil || u.UID != 5 || u.GID != 6 || home != "/" {
			t.Errorf(`resolveUser("5:6") in %v = %+v, %q, %v; want 5:6, "/"`, fsys, u, home, err)
		}
	}
	if _, _, err := resolveUser("app", broken); err == nil || !strings.Contains(err.Error(), `image user "app": read /etc/passwd`) {
		t.Errorf("resolveUser(app) with an unreadable etc/passwd: %v", err)
	}
	if _, _, err := resolveUser("0:app", broken); err == nil || !strings.Contains(err.Error(), `image user "0:app": read /etc/group`) {
		t.Errorf("resolveUser(0:app) with an unreadable etc/group: %v", err)
	}
}

func TestBundleSpecProcess(t *testing.T) {
	im := &meta.Image{
		Entrypoint: []string{"/bin/entry", "-v"},
		Cmd:        []string{"serve", "--port=80"},
		Env:        []string{"LANG=C.UTF-8"},
		WorkingDir: "/srv",
		User:       "app",
	}
	s, err := bundleSpec(im, "/mnt/img", bundleOptions{name: "box"}, bundleRootfs)
	if err != nil {
		t.Fatal(err)
	}
	p := s.Process
	if got, want := p.Args, []string{"/bin/entry", "-v", "serve", "--port=80"}; !slices.Equal(got, want) {
		t.Errorf("args %q, want %q", got, want)
	}
	if got, want := p.Env, []string{"LANG=C.UTF-8", defaultPath, "HOME=/home/app"}; !slices.Equal(got, want) {
		t.Errorf("env %q, want %q", got, want)
	}
	if p.Cwd != "/srv" || p.User.UID != 1000 || p.User.GID != 1000 || p.Terminal {
		t.Errorf("cwd %q, user %+v, terminal %v; want /srv, 1000:1000, false", p.Cwd, p.User, p.Terminal)
	}
	if s.Root.Path != "/mnt/img" || !s.Root.Readonly || s.Hostname != "box" {
		t.Errorf("root %+v, hostname %q; want /mnt/img read-only, box", s.Root, s.Hostname)
	}
	if s.Version != specs.Version {
		t.Errorf("ociVersion %q, want %q", s.Version, specs.Version)
	}
	if &p.Args[0] == &im.Entrypoint[0] {
		t.Error("args share the image's entrypoint array")
	}
}

func TestBundleSpecDefaults(t *testing.T) {
	// An image's PATH and HOME are kept; a relative working directory is
	// made absolute; no working directory is "/".
	im := &meta.Image{Cmd: []string{"sh"}, Env: []string{"PATH=/opt/bin", "HOME=/h"}, WorkingDir: "work"}
	s, err := bundleSpec(im, "/r", bundleOptions{}, bundleRootfs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Process.Env, []string{"PATH=/opt/bin", "HOME=/h"}; !slices.Equal(got, want) {
		t.Errorf("env %q, want %q", got, want)
	}
	if s.Process.Cwd != "/work" {
		t.Errorf("cwd %q, want /work", s.Process.Cwd)
	}
	im.WorkingDir = ""
	if s, _ = bundleSpec(im, "/r", bundleOptions{}, bundleRootfs); s.Process.Cwd != "/" {
		t.Errorf("cwd %q, want /", s.Process.Cwd)
	}
	// No image at all: the args given, as root.
	s, err = bundleSpec(nil, "/r", bundleOptions{args: []string{"/bin/true"}}, bundleRootfs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Process.Env, []string{defaultPath, "HOME=/root"}; !slices.Equal(got, want) || s.Process.User.UID != 0 {
		t.Errorf("env %q, user %+v; want %q, root", got, s.Process.User, want)
	}
}

func TestBundleSpecArgsOverride(t *testing.T) {
	im := &meta.Image{Entrypoint: []string{"/entry"}, Cmd: []string{"x"}}
	s, err := bundleSpec(im, "/r", bundleOptions{args: []string{"/bin/sh", "-c", "id"}}, bundleRootfs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Process.Args, []string{"/bin/sh", "-c", "id"}; !slices.Equal(got, want) {
		t.Errorf("args %q, want %q (entrypoint and command replaced)", got, want)
	}
}

func TestBundleSpecErrors(t *testing.T) {
	tests := []struct {
		name string
		im   *meta.Image
		want string
	}{
		{"no command", &meta.Image{Env: []string{"A=b"}}, "neither an entrypoint nor a command"},
		{"no image", nil, "neither an entrypoint nor a command"},
		{"unknown user", &meta.Image{Cmd: []string{"sh"}, User: "ghost"}, `no user "ghost"`},
		{"unknown group", &meta.Image{Cmd: []string{"sh"}, User: "0:ghosts"}, `no group "ghosts"`},
	}
	for _, tt := range tests {
		_, err := bundleSpec(tt.im, "/r", bundleOptions{}, bundleRootfs)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q in it", tt.name, err, tt.want)
		}
	}
}

// TestDefaultSpecLikeRunc checks the parts of runc's default spec that a
// container needs: its namespaces, its mounts and no terminal.
func TestDefaultSpecLikeRunc(t *testing.T) {
	s := defaultSpec()
	var ns []string
	for _, n := range s.Linux.Namespaces {
		ns = append(ns, string(n.Type))
	}
	if want := []string{"pid", "network", "ipc", "uts", "mount"}; !slices.Equal(ns, want) {
		t.Errorf("namespaces %q, want %q", ns, want)
	}
	var dests []string
	for _, m := range s.Mounts {
		dests = append(dests, m.Destination)
	}
	if want := []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"}; !slices.Equal(dests, want) {
		t.Errorf("mounts %q, want %q", dests, want)
	}
	if s.Process.Terminal || !s.Process.NoNewPrivileges || len(s.Linux.MaskedPaths) == 0 || len(s.Linux.ReadonlyPaths) == 0 {
		t.Errorf("process %+v, linux %+v: want no terminal, no new privileges, masked and read-only paths", s.Process, s.Linux)
	}
	// Options are not shared between mounts (appending to one must not
	// change another).
	s.Mounts[4].Options[0] = "changed"
	if s.Mounts[3].Options[0] != "nosuid" {
		t.Error("mounts share option arrays")
	}
}

func TestWriteSpec(t *testing.T) {
	file := filepath.Join(t.TempDir(), "config.json")
	s := defaultSpec()
	s.Root = &specs.Root{Path: "/mnt", Readonly: true}
	if err := writeSpec(file, s); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var got specs.Spec
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Root.Path != "/mnt" || !got.Root.Readonly || len(got.Mounts) != len(s.Mounts) {
		t.Errorf("read back root %+v and %d mounts, want /mnt read-only and %d", got.Root, len(got.Mounts), len(s.Mounts))
	}
	if _, err := os.Stat(file + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left: %v", err)
	}
}

func TestHandleImage(t *testing.T) {
	im := &meta.Image{Cmd: []string{"sh"}, User: "app"}
	for _, tt := range []struct {
		name string
		m    *meta.Manifest
		code int
	}{
		{"with image", &meta.Manifest{Image: im}, http.StatusOK},
		{"without", &meta.Manifest{}, http.StatusNotFound},
	} {
		c := &controlServer{env: preheatEnv{m: tt.m}}
		rec := httptest.NewRecorder()
		c.handleImage(rec, httptest.NewRequest(http.MethodGet, pathImage, nil))
		if rec.Code != tt.code || rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q, want %d application/json", tt.name, rec.Code, rec.Header().Get("Content-Type"), tt.code)
		}
		if tt.code == http.StatusOK {
			var got meta.Image
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.User != "app" || !slices.Equal(got.Cmd, im.Cmd) {
				t.Errorf("%s: body %s (%v)", tt.name, rec.Body, err)
			}
		}
	}
}

func TestBundleUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bundle", "/mnt"},
		{"bundle", "/mnt", "/b", "extra"},
		{"bundle", "/mnt", "/b", "--"},
		{"bundle", "--rootfs-writable", "tmpfs", "/mnt", "/b"},
	} {
		var stdout, stderr strings.Builder
		if code := run(args, &stdout, &stderr); code != exitUsage {
			t.Errorf("piecefs %q: status %d, want %d (stderr %q)", args, code, exitUsage, stderr.String())
		}
	}
	var stdout, stderr strings.Builder
	dir := t.TempDir()
	if code := run([]string{"bundle", dir, filepath.Join(dir, "b")}, &stdout, &stderr); code != exitError || !strings.Contains(stderr.String(), "is not the root of a piecefs mount") {
		t.Errorf("bundle of a plain directory: status %d, stderr %q", code, stderr.String())
	}
}

func TestCheckMountpoints(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"proc", "dev", "sys", "srv"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	s := defaultSpec()
	for cwd, want := range map[string]string{
		"/":        "",
		"/srv":     "",
		"/missing": "no directory /missing",
		"/file":    "no directory /file (not a directory)",
	} {
		s.Process.Cwd = cwd
		err := checkMountpoints(root, s)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("cwd %s: error %v, want %q", cwd, err, want)
		}
	}
	s.Process.Cwd = "/"
	if err := os.Remove(filepath.Join(dir, "sys")); err != nil {
		t.Fatal(err)
	}
	if err := checkMountpoints(root, s); err == nil || !strings.Contains(err.Error(), "no directory /sys") {
		t.Errorf("without /sys: error %v", err)
	}
}

// TestMountClientImage asks real control servers on Unix sockets for the
// image config: one with an image, one without, and a server that knows
// no such request (an older piecefs).
func TestMountClientImage(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	im := &meta.Image{Entrypoint: []string{"/e"}, User: "1:2"}
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		m    *meta.Manifest
		want *meta.Image
	}{{"with", &meta.Manifest{Image: im}, im}, {"without", &meta.Manifest{}, nil}} {
		sock := filepath.Join(t.TempDir(), controlSocketName)
		ctl := &controlServer{env: preheatEnv{m: tt.m}, owner: os.Getuid(), log: log}
		if _, err := startControl(sock, ctl); err != nil {
			t.Fatal(err)
		}
		got, err := unixClient(sock).image(ctx)
		ctl.Close()
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s an image: %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
	sock := filepath.Join(t.TempDir(), "old.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NewServeMux()}
	go srv.Serve(ln)
	defer srv.Close()
	if _, err := unixClient(sock).image(ctx); err == nil || !strings.Contains(err.Error(), "older piecefs") {
		t.Errorf("a server without the request: %v, want an older piecefs named", err)
	}
}

// unixClient is a mountClient of the socket at sock.
func unixClient(sock string) *mountClient {
	return &mountClient{dir: "/mnt/x", socket: sock, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}}
}

// TestMountBundleUsage: mount's --bundle-* flags and a command after --
// need --bundle, and a bad --bundle-rootfs-writable is a usage error, all
// before anything is mounted.
func TestMountBundleUsage(t *testing.T) {
	for args, want := range map[string]string{
		"--bundle-name x http://o /mnt":                          "--bundle-name without --bundle",
		"--bundle-rootfs-writable overlay http://o /mnt":         "--bundle-rootfs-writable without --bundle",
		"http://o /mnt -- /bin/true":                             "a command after -- without --bundle",
		"--bundle /b http://o /mnt --":                           "no command after --",
		"--bundle /b --bundle-rootfs-writable tmpfs http://o /m": `--bundle-rootfs-writable "tmpfs": want none or overlay`,
		"--bundle /b http://o /mnt extra":                        "want 2 arguments",
	} {
		var stdout, stderr strings.Builder
		if code := run(append([]string{"mount"}, strings.Fields(args)...), &stdout, &stderr); code != exitUsage || !strings.Contains(stderr.String(), want) {
			t.Errorf("piecefs mount %s: status %d, stderr %q; want %d and %q", args, code, stderr.String(), exitUsage, want)
		}
	}
}

// TestMountBundleParseArgs: the command after -- is taken off the
// arguments into the bundle's options.
func TestMountBundleParseArgs(t *testing.T) {
	fs := flag.NewFlagSet("mount", flag.ContinueOnError)
	var b mountBundle
	b.register(fs)
	if err := fs.Parse([]string{"--bundle", "/b", "--bundle-name", "box", "http://o", "/mnt", "--", "/bin/sh", "-c", "id"}); err != nil {
		t.Fatal(err)
	}
	args, err := b.parseArgs(fs, fs.Args())
	if err != nil || !slices.Equal(args, []string{"http://o", "/mnt"}) {
		t.Fatalf("args %q, %v; want ORIGIN_URL MOUNTPOINT", args, err)
	}
	if want := []string{"/bin/sh", "-c", "id"}; b.dir != "/b" || b.opts.name != "box" || b.opts.writable != writableNone || !slices.Equal(b.opts.args, want) {
		t.Errorf("bundle %+v, want /b, box, none, %q", b, want)
	}
}

// TestMountBundleWrite writes the bundle of a directory standing in for
// the mount (makeBundle needs no FUSE): the same config.json as bundle's
// spec for that root, the root absolute though the mountpoint was given
// relative, the line about it in the log; nothing without --bundle; and a
// publication without an image config needs a command.
func TestMountBundleWrite(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"etc", "proc", "dev", "sys", "srv"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, f := range bundleRootfs {
		if err := os.WriteFile(filepath.Join(root, name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(filepath.Dir(root))
	log, logged := bundleTestLog()
	sigs := make(chan os.Signal, 2)
	if got, err := (&mountBundle{}).write(nil, "x", sigs, nil, log); got != sigs || err != nil {
		t.Errorf("without --bundle: %v, %v; want sigs itself and no error", got, err)
	}
	im := &meta.Image{Cmd: []string{"serve"}, WorkingDir: "/srv", User: "app"}
	dir := filepath.Join(t.TempDir(), "b")
	b := &mountBundle{dir: dir, opts: bundleOptions{writable: writableNone, name: "box"}}
	if got, err := b.write(im, filepath.Base(root), sigs, nil, log); got != sigs || err != nil {
		t.Fatalf("write: %v, %v", got, err)
	}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		t.Fatal(err)
	}
	want, err := bundleSpec(im, real, b.opts, os.DirFS(root))
	if err != nil {
		t.Fatal(err)
	}
	var got specs.Spec
	if data, err := os.ReadFile(filepath.Join(dir, "config.json")); err != nil || json.Unmarshal(data, &got) != nil {
		t.Fatalf("config.json: %s, %v", data, err)
	}
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("config.json %+v,\nwant bundle's %+v", got, want)
	}
	if want := "run it: runc run -b " + dir + " box"; !strings.Contains(logged.String(), want) {
		t.Errorf("log %q, want %q in it", logged, want)
	}
	if _, err := b.write(nil, root, sigs, nil, log); err == nil || !strings.Contains(err.Error(), "has no image config") {
		t.Errorf("without an image config: %v", err)
	}
}

// TestOverlayFirst: signals are passed on in order, the first after the
// overlay's unmount was tried (here nothing is mounted, which is quiet).
func TestOverlayFirst(t *testing.T) {
	log, logged := bundleTestLog()
	sigs := make(chan os.Signal, 2)
	done := make(chan struct{})
	out := overlayFirst(sigs, t.TempDir(), done, log)
	sigs <- syscall.SIGTERM
	sigs <- os.Interrupt
	for _, want := range []os.Signal{syscall.SIGTERM, os.Interrupt} {
		if got := <-out; got != want {
			t.Errorf("signal %v, want %v", got, want)
		}
	}
	// Once done is closed the relay stops: a signal is no longer passed on.
	close(done)
	sigs <- syscall.SIGTERM
	select {
	case sig := <-out:
		t.Errorf("signal %v passed on after done", sig)
	case <-time.After(50 * time.Millisecond):
	}
	if strings.Contains(logged.String(), "level=error") {
		t.Errorf("an overlay not mounted logged an error: %s", logged)
	}
}

// bundleTestLog is a logger at info into a buffer.
func bundleTestLog() (*logrus.Logger, *strings.Builder) {
	var b strings.Builder
	log := logrus.New()
	log.SetOutput(&b)
	return log, &b
}
