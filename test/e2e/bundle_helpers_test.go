package e2e

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/origin"
)

// The helpers of the container tests (issue 10): a tiny root file system
// of a static busybox, an image config put into its publication, and
// runs of runc that are cleaned up.

// containerTimeout bounds one container run.
const containerTimeout = 2 * time.Minute

// requireContainers checks for root, FUSE, runc and a static busybox, and
// returns busybox's path.
func requireContainers(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "runc and overlayfs need root, not uid %d", os.Geteuid())
	}
	requireFUSE(t)
	requireTool(t, "runc")
	bb, err := exec.LookPath("busybox")
	if err != nil {
		missing(t, "busybox is not installed (Debian's busybox-static): %v", err)
	}
	f, err := elf.Open(bb)
	if err != nil {
		t.Fatalf("busybox: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			missing(t, "%s is linked dynamically: the test's root file system holds nothing else; install busybox-static", bb)
		}
	}
	return bb
}

// bundleUID and bundleGID own the image's /srv and are its user "app";
// "app" is also a member of group "staff" (bundleStaffGID).
const (
	bundleUID      = 1000
	bundleGID      = 1000
	bundleStaffGID = 50
)

// bundleMotd is the content of the image's /srv/motd.
const bundleMotd = "served by piecefs\n"

// makeBundleRootfs makes a root file system in a new directory: busybox
// and links to it in /bin, /etc/passwd and /etc/group, the directories
// runc mounts on, and /srv (the image's working directory) owned by app.
func makeBundleRootfs(t *testing.T, busybox string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"bin", "etc", "proc", "dev", "sys", "tmp", "srv"} {
		bundleMust(t, os.Mkdir(filepath.Join(root, d), 0o755))
	}
	b, err := os.ReadFile(busybox)
	bundleMust(t, err)
	bundleMust(t, os.WriteFile(filepath.Join(root, "bin/busybox"), b, 0o755))
	for _, app := range []string{"sh", "echo", "cat", "id", "touch", "ls", "rm", "hostname", "pwd"} {
		bundleMust(t, os.Symlink("busybox", filepath.Join(root, "bin", app)))
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/srv:/bin/sh\n",
		"etc/group":  "root:x:0:\nstaff:x:50:app\napp:x:1000:\n",
		"srv/motd":   bundleMotd,
	}
	for name, data := range files {
		bundleMust(t, os.WriteFile(filepath.Join(root, name), []byte(data), 0o644))
	}
	bundleMust(t, os.Chown(filepath.Join(root, "srv"), bundleUID, bundleGID))
	return root
}

// putImage gives the publication in out a second manifest, the one tag
// latest names with im as its image config, and points tag at it. It is
// what `piecefs import` would publish for an image of that tree.
func putImage(t *testing.T, out, tag string, im meta.Image) meta.Digest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, meta.TagPath("latest")))
	bundleMust(t, err)
	d, err := meta.ParseDigest(strings.TrimSpace(string(b)))
	bundleMust(t, err)
	b, err = os.ReadFile(filepath.Join(out, meta.ManifestPath(d)))
	bundleMust(t, err)
	m, err := meta.Decode(b)
	bundleMust(t, err)
	m.Image = &im
	b, err = m.Encode()
	bundleMust(t, err)
	dir, err := origin.OpenDir(out)
	bundleMust(t, err)
	nd, err := dir.PutManifest(b)
	bundleMust(t, err)
	bundleMust(t, dir.SetTag(tag, nd))
	return nd
}

// umociBundleImage makes an OCI image layout with umoci whose one layer is
// the tree at rootfs and whose config is im's process settings, and
// returns it as piecefs import takes it, "DIR:TAG".
func umociBundleImage(t *testing.T, rootfs string, im meta.Image) string {
	t.Helper()
	dir := t.TempDir()
	img, unpacked := filepath.Join(dir, "oci")+":t", filepath.Join(dir, "b")
	mustRun(t, dir, "umoci", "init", "--layout", "oci")
	mustRun(t, dir, "umoci", "new", "--image", img)
	// unpack and repack rather than insert: umoci insert at / writes an
	// entry "/" that import refuses as an absolute path.
	mustRun(t, dir, "umoci", "unpack", "--image", img, unpacked)
	mustRun(t, dir, "cp", "-a", rootfs+"/.", filepath.Join(unpacked, "rootfs"))
	mustRun(t, dir, "umoci", "repack", "--image", img, unpacked)
	args := []string{"config", "--image", img, "--config.workingdir", im.WorkingDir, "--config.user", im.User}
	for _, s := range im.Entrypoint {
		args = append(args, "--config.entrypoint", s)
	}
	for _, s := range im.Cmd {
		args = append(args, "--config.cmd", s)
	}
	for _, s := range im.Env {
		args = append(args, "--config.env", s)
	}
	mustRun(t, dir, "umoci", args...)
	return img
}

// containerName is a runc or podman container name unique to this run.
func containerName(what string) string {
	return fmt.Sprintf("piecefs-e2e-%d-%s", os.Getpid(), what)
}

// runcRun runs the container of bundle under name and waits for it; a
// cleanup deletes it, whatever became of it.
func runcRun(t *testing.T, bundle, name string) output {
	t.Helper()
	t.Cleanup(func() { runTool(time.Minute, "", "runc", "delete", "--force", name) })
	out := runTool(containerTimeout, "", "runc", "run", "--bundle", bundle, name)
	if out.timedOut {
		t.Fatalf("runc run %s: still running after %v\nstderr: %s", name, containerTimeout, tail(out.stderr))
	}
	return out
}

// bundleRun runs piecefs bundle, which must succeed, and returns its
// stdout.
func bundleRun(t *testing.T, args ...string) string {
	t.Helper()
	return phMustRun(t, append([]string{"bundle"}, args...)...).stdout
}

func bundleMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// startBundleMount is startMount with `--bundle bundle` among extra and
// cmd, when given, after "--": a mount that writes its container's bundle
// before its ready line.
func startBundleMount(t *testing.T, origin, bundle string, extra, cmd []string) *mount {
	t.Helper()
	requireFUSE(t)
	mnt := newMountpoint(t)
	args := mountArgs(origin, mnt, t.TempDir(), append([]string{"--bundle", bundle}, extra...))
	if cmd != nil {
		args = append(append(args, "--"), cmd...)
	}
	hm, err := harness.StartMount(timeoutCtx(t, readyTimeout), harness.Command{Path: fx.bin, Args: args}, mnt)
	if err != nil {
		t.Fatalf("piecefs %s: %v", strings.Join(args, " "), err)
	}
	m := &mount{proc: &proc{hm.Process}, dir: mnt, digest: hm.Digest}
	t.Cleanup(func() { m.cleanup(t) })
	return m
}

// startBundleOrigin publishes the busybox root file system with the image
// config bundleImage under the tag "image" and serves it; it returns the
// origin's URL.
func startBundleOrigin(t *testing.T) string {
	t.Helper()
	busybox := requireContainers(t)
	out := t.TempDir()
	if _, err := publish(fx.bin, makeBundleRootfs(t, busybox), out); err != nil {
		t.Fatal(err)
	}
	putImage(t, out, "image", bundleImage)
	return startServeOrigin(t, out)
}
