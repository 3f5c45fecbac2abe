package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/piecefs/piecefs/meta"
)

// bundleImage is the image config of the tests' root file system.
var bundleImage = meta.Image{
	OS: "linux", Architecture: runtime.GOARCH,
	Entrypoint: []string{"/bin/sh", "-c"},
	Cmd:        []string{`echo "$GREETING from $(id -u):$(id -g) [$(id -G)] in $(pwd) on $(hostname), HOME=$HOME"; cat motd`},
	Env:        []string{"GREETING=hello"},
	WorkingDir: "/srv",
	User:       "app",
}

// runImageCommand runs the image's own command (bundleImage) from a bundle
// of the mount at mnt and checks what it printed: its user, groups,
// working directory, environment and hostname, and a file of the image.
func runImageCommand(t *testing.T, mnt, what string) {
	bundle, name := filepath.Join(t.TempDir(), "b"), containerName(what)
	stdout := bundleRun(t, "--name", name, mnt, bundle)
	if want := fmt.Sprintf("root %s, read-only; run it: runc run -b %s %s", mnt, bundle, name); !strings.Contains(stdout, want) {
		t.Errorf("piecefs bundle printed %q, want %q in it", stdout, want)
	}
	o := runcRun(t, bundle, name)
	want := fmt.Sprintf("hello from %d:%d [%d %d] in /srv on %s, HOME=/srv\n%s", bundleUID, bundleGID, bundleGID, bundleStaffGID, name, bundleMotd)
	if o.err != nil || string(o.stdout) != want {
		t.Errorf("runc run: %v, stdout %q, want %q\nstderr: %s", o.err, o.stdout, want, tail(o.stderr))
	}
}

// TestBundleImported builds a one-layer OCI image of the root file system
// with umoci, with bundleImage as its config, imports it with piecefs
// import, and runs the image's command from a bundle of its mount: the
// config travels from the image to the container through the publication.
func TestBundleImported(t *testing.T) {
	busybox := requireContainers(t)
	requireTool(t, "umoci")
	img := umociBundleImage(t, makeBundleRootfs(t, busybox), bundleImage)
	out := t.TempDir()
	if r := phMustRun(t, "import", img, out); !digestLine.MatchString(r.stdout) {
		t.Fatalf("piecefs import printed %q, want a digest line", r.stdout)
	}
	m := startMount(t, startServeOrigin(t, out), t.TempDir(), "--allow-other")
	runImageCommand(t, m.dir, "imported")
}

// TestBundleRunc publishes a tiny root file system with an image config,
// mounts it, and runs it with runc from `piecefs bundle`: the image's own
// command as its user, in its working directory, with its environment; a
// command given after -- on the read-only root; and one through an
// overlay whose writes land in the bundle, never in the mount. A
// publication without an image config is refused unless a command is
// given, and podman runs the mount as it is with --rootfs MOUNTPOINT:O.
func TestBundleRunc(t *testing.T) {
	origin := startBundleOrigin(t)
	// --allow-other: the container's user is not the one who mounted.
	m := startMount(t, origin, t.TempDir(), "--tag", "image", "--allow-other")

	t.Run("image command", func(t *testing.T) { runImageCommand(t, m.dir, "image") })

	t.Run("read-only root", func(t *testing.T) {
		bundle, name := filepath.Join(t.TempDir(), "b"), containerName("ro")
		bundleRun(t, "--name", name, m.dir, bundle, "--", "/bin/sh", "-c", "id -u; cat /etc/hostname || true; touch /srv/x")
		o := runcRun(t, bundle, name)
		if o.err == nil || !strings.Contains(string(o.stderr), "Read-only file system") {
			t.Errorf("runc run: %v, want touch to fail with EROFS\nstderr: %s", o.err, tail(o.stderr))
		}
		if want := fmt.Sprintf("%d\n", bundleUID); string(o.stdout) != want {
			t.Errorf("runc run: stdout %q, want %q", o.stdout, want)
		}
	})

	t.Run("overlay", func(t *testing.T) {
		bundle, name := filepath.Join(t.TempDir(), "b"), containerName("overlay")
		t.Cleanup(func() { unmount(t, filepath.Join(bundle, "rootfs")) })
		bundleRun(t, "--rootfs-writable=overlay", "--name", name, m.dir, bundle, "--",
			"/bin/sh", "-c", "echo written > /srv/new && cat /srv/new && rm /srv/motd && ls /srv")
		o := runcRun(t, bundle, name)
		if o.err != nil || string(o.stdout) != "written\nnew\n" {
			t.Errorf("runc run: %v, stdout %q, want %q\nstderr: %s", o.err, o.stdout, "written\nnew\n", tail(o.stderr))
		}
		if b, err := os.ReadFile(filepath.Join(bundle, "upper/srv/new")); err != nil || string(b) != "written\n" {
			t.Errorf("the overlay's upper directory: srv/new %q, %v; want %q", b, err, "written\n")
		}
		if _, err := os.Lstat(filepath.Join(m.dir, "srv/new")); !os.IsNotExist(err) {
			t.Errorf("the mount has srv/new (%v): writes must stay in the overlay", err)
		}
		if b, err := os.ReadFile(filepath.Join(m.dir, "srv/motd")); err != nil || string(b) != bundleMotd {
			t.Errorf("the mount's srv/motd after the container removed it: %q, %v; want it unchanged", b, err)
		}
		// The overlay is still mounted: a second bundle into the same
		// directory is refused.
		if r := phRun(t, "bundle", "--rootfs-writable=overlay", m.dir, bundle); r.code != 1 || !strings.Contains(r.stderr, "mounted already") {
			t.Errorf("bundle over a mounted overlay: want status 1 and %q: %s", "mounted already", r)
		}
	})

	t.Run("no image config", func(t *testing.T) {
		plain := startMount(t, origin, t.TempDir(), "--tag", "latest")
		bundle := filepath.Join(t.TempDir(), "b")
		r := phRun(t, "bundle", plain.dir, bundle)
		if r.code != 1 || !strings.Contains(r.stderr, "has no image config") {
			t.Errorf("want status 1 and %q: %s", "has no image config", r)
		}
		bundleRun(t, plain.dir, bundle, "--", "/bin/echo", "plain")
		o := runcRun(t, bundle, containerName("plain"))
		if o.err != nil || string(o.stdout) != "plain\n" {
			t.Errorf("runc run /bin/echo plain: %v, stdout %q\nstderr: %s", o.err, o.stdout, tail(o.stderr))
		}
	})

	t.Run("without allow-other", func(t *testing.T) {
		// The image's user (1000) is not the mounting user (root): FUSE
		// would let the container read nothing.
		private := startMount(t, origin, t.TempDir(), "--tag", "image")
		r := phMustRun(t, "bundle", private.dir, filepath.Join(t.TempDir(), "b"))
		if want := "runs as uid 1000 but " + private.dir + " was mounted without --allow-other"; !strings.Contains(r.stderr, want) {
			t.Errorf("want a warning %q: %s", want, r)
		}
		// Through an overlay, which reaches the mount as the user who
		// mounted the overlay, the container reads it all the same.
		bundle, name := filepath.Join(t.TempDir(), "b"), containerName("private")
		t.Cleanup(func() { unmount(t, filepath.Join(bundle, "rootfs")) })
		r = phMustRun(t, "bundle", "--rootfs-writable=overlay", "--name", name, private.dir, bundle, "--", "/bin/sh", "-c", "id -u; cat motd")
		if strings.Contains(r.stderr, "warning") {
			t.Errorf("a warning for an overlay: %s", r)
		}
		o := runcRun(t, bundle, name)
		if want := fmt.Sprintf("%d\n%s", bundleUID, bundleMotd); o.err != nil || string(o.stdout) != want {
			t.Errorf("runc run through an overlay: %v, stdout %q, want %q\nstderr: %s", o.err, o.stdout, want, tail(o.stderr))
		}
	})

	t.Run("podman", func(t *testing.T) {
		requireTool(t, "podman")
		name := containerName("podman")
		t.Cleanup(func() { runTool(toolTimeout, "", "podman", "rm", "--force", "--ignore", name) })
		// The ulimits: podman raises the rlimits of a container to its own
		// defaults, which a host without CAP_SYS_RESOURCE refuses.
		o := runTool(containerTimeout, "", "podman", "run", "--rm", "--name", name, "--network", "none",
			"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--user", "app", "--workdir", "/srv",
			"--rootfs", m.dir+":O", "/bin/sh", "-c", "id -u; echo podman > /srv/p; cat /srv/p motd")
		if want := fmt.Sprintf("%d\npodman\n%s", bundleUID, bundleMotd); o.err != nil || string(o.stdout) != want {
			t.Errorf("podman run --rootfs %s:O: %v (timed out: %v), stdout %q, want %q\nstderr: %s", m.dir, o.err, o.timedOut, o.stdout, want, tail(o.stderr))
		}
		if _, err := os.Lstat(filepath.Join(m.dir, "srv/p")); !os.IsNotExist(err) {
			t.Errorf("the mount has srv/p (%v): podman's writes must stay in its overlay", err)
		}
	})
}

// TestBundleMount starts containers the short way, `piecefs mount --bundle
// DIR` then runc at once: the bundle is there at the ready line, the same
// config.json `piecefs bundle` writes of that mount, and runs the image's
// command; with an overlay and a command after --, the container writes
// into the bundle and SIGTERM unmounts the overlay before the mount, which
// then exits cleanly. A publication without an image config and no command
// fails the mount, which leaves nothing mounted.
func TestBundleMount(t *testing.T) {
	origin := startBundleOrigin(t)

	t.Run("image command", func(t *testing.T) {
		bundle, name := filepath.Join(t.TempDir(), "b"), containerName("mount-bundle")
		m := startBundleMount(t, origin, bundle, []string{"--tag", "image", "--allow-other", "--bundle-name", name}, nil)
		got, err := os.ReadFile(filepath.Join(bundle, "config.json"))
		bundleMust(t, err)
		other := filepath.Join(t.TempDir(), "b")
		bundleRun(t, "--name", name, m.dir, other)
		if want, err := os.ReadFile(filepath.Join(other, "config.json")); err != nil || string(got) != string(want) {
			t.Errorf("mount --bundle wrote\n%s\nwant what piecefs bundle wrote (%v):\n%s", got, err, want)
		}
		o := runcRun(t, bundle, name)
		want := fmt.Sprintf("hello from %d:%d [%d %d] in /srv on %s, HOME=/srv\n%s", bundleUID, bundleGID, bundleGID, bundleStaffGID, name, bundleMotd)
		if o.err != nil || string(o.stdout) != want {
			t.Errorf("runc run: %v, stdout %q, want %q\nstderr: %s", o.err, o.stdout, want, tail(o.stderr))
		}
		m.Stop(t)
		if want := "run it: runc run -b " + bundle + " " + name; !strings.Contains(string(m.Stderr()), want) {
			t.Errorf("the mount's log does not say %q:\n%s", want, tail(m.Stderr()))
		}
	})

	t.Run("overlay", func(t *testing.T) {
		bundle, name := filepath.Join(t.TempDir(), "b"), containerName("mount-overlay")
		rootfs := filepath.Join(bundle, "rootfs")
		t.Cleanup(func() { unmount(t, rootfs) })
		m := startBundleMount(t, origin, bundle, []string{"--tag", "image", "--bundle-rootfs-writable=overlay", "--bundle-name", name},
			[]string{"/bin/sh", "-c", "echo written > /srv/new && cat /srv/new motd"})
		o := runcRun(t, bundle, name)
		if want := "written\n" + bundleMotd; o.err != nil || string(o.stdout) != want {
			t.Errorf("runc run: %v, stdout %q, want %q\nstderr: %s", o.err, o.stdout, want, tail(o.stderr))
		}
		// SIGTERM: the overlay goes first, or it would keep the mount busy.
		m.Stop(t)
		if isMounted(t, rootfs) {
			t.Errorf("%s is still mounted after the mount exited", rootfs)
		}
		if !strings.Contains(string(m.Stderr()), "unmounted the overlay") {
			t.Errorf("the mount's log does not say it unmounted the overlay:\n%s", tail(m.Stderr()))
		}
		if b, err := os.ReadFile(filepath.Join(bundle, "upper/srv/new")); err != nil || string(b) != "written\n" {
			t.Errorf("the overlay's upper directory: srv/new %q, %v; want %q", b, err, "written\n")
		}
	})

	t.Run("no image config", func(t *testing.T) {
		bundle := filepath.Join(t.TempDir(), "b")
		stderr := mountFails(t, origin, t.TempDir(), "--tag", "latest", "--bundle", bundle)
		if !strings.Contains(stderr, "has no image config") {
			t.Errorf("want %q in the mount's error:\n%s", "has no image config", stderr)
		}
	})
}
