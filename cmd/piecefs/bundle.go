package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/meta"
)

// `piecefs bundle` writes an OCI runtime bundle whose root file system is
// a running mount, with the process settings of the image the mounted
// publication was imported from, which the mount serves on its control
// socket (GET /v1/image).
const pathImage = "/v1/image"

// defaultPath is the PATH of a container whose image sets none (runc's and
// Docker's default).
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Values of --rootfs-writable.
const (
	writableNone    = "none"
	writableOverlay = "overlay"
)

// bundleOptions are bundle's flags and the command after "--".
type bundleOptions struct {
	writable string
	name     string   // the container's hostname, and the name suggested to runc
	args     []string // replace the image's entrypoint and command when set
}

func setupBundle(fs *flag.FlagSet) func([]string) error {
	var o bundleOptions
	fs.StringVar(&o.writable, "rootfs-writable", writableNone, "none: the container's root is the mount itself, read-only; "+
		"overlay: an overlayfs of the mount with its upper and work directories in BUNDLE_DIR, mounted at BUNDLE_DIR/rootfs (needs root; umount it when done)")
	fs.StringVar(&o.name, "name", "piecefs", "the container's hostname, and the NAME in the runc command printed")
	return func(args []string) error {
		if len(args) > 2 {
			if args[2] != "--" {
				return usageError{fmt.Sprintf("unexpected argument %q: put a command to run instead of the image's after --", args[2])}
			}
			if o.args = args[3:]; len(o.args) == 0 {
				return usageError{"no command after --"}
			}
			args = args[:2]
		}
		if err := wantArgs(args, "MOUNTPOINT", "BUNDLE_DIR"); err != nil {
			return err
		}
		if o.writable != writableNone && o.writable != writableOverlay {
			return usageError{fmt.Sprintf("--rootfs-writable %q: want none or overlay", o.writable)}
		}
		ctx, stop := signalContext()
		defer stop()
		return bundle(ctx, args[0], args[1], o)
	}
}

// bundle writes dir/config.json for a container whose root is the piecefs
// mount at mnt, and with overlay mounts dir/rootfs first.
func bundle(ctx context.Context, mnt, dir string, o bundleOptions) error {
	c, owner, err := mountAt(mnt)
	if err != nil {
		return err
	}
	im, err := c.image(ctx)
	if err != nil {
		return err
	}
	done, err := makeBundle(c.dir, owner, im, dir, o, func(msg string) {
		fmt.Fprintf(os.Stderr, "piecefs bundle: warning: %s\n", msg)
	})
	if err != nil {
		return err
	}
	fmt.Println(done)
	return nil
}

// makeBundle writes dir/config.json for a container of image im (nil: the
// publication has none) whose root is the piecefs mount at mnt (absolute,
// symlinks resolved, as in the mount table), mounted by uid owner; with
// overlay it mounts dir/rootfs first. It is `piecefs bundle` and `piecefs
// mount --bundle` both, so that the two write the same bundle; they differ
// only in where im comes from (the control socket, or the manifest in
// memory) and in where warnings and the returned line saying how to run
// the container go (stderr and stdout, or the mount's log, whose stdout
// is its ready line).
func makeBundle(mnt string, owner int, im *meta.Image, dir string, o bundleOptions, warn func(string)) (string, error) {
	if im == nil && o.args == nil {
		return "", fmt.Errorf("the publication mounted at %s has no image config (it was published from a directory, not imported from an OCI image): give the command to run after --", mnt)
	}
	warnPlatform(im, warn)
	spec, err := mountSpec(mnt, owner, im, o, warn)
	if err != nil {
		return "", err
	}
	return writeBundle(mnt, dir, spec, o)
}

// mountSpec is bundleSpec for the mount at dir, mounted by uid owner; for
// a read-only root it checks what runc will need of the mount.
func mountSpec(dir string, owner int, im *meta.Image, o bundleOptions, warn func(string)) (*specs.Spec, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	spec, err := bundleSpec(im, dir, o, root.FS())
	if err != nil || o.writable != writableNone {
		return spec, err
	}
	if uid := spec.Process.User.UID; int(uid) != owner && !mountHasOption(dir, "allow_other") {
		warn(fmt.Sprintf("the container runs as uid %d but %s was mounted without --allow-other, so only the mounting user may read it", uid, dir))
	}
	return spec, checkMountpoints(root, spec)
}

// writeBundle writes spec into dir, making dir/rootfs an overlay of the
// mount at mnt first when asked to, and returns a line that says how to
// run it.
func writeBundle(mnt, dir string, spec *specs.Spec, o bundleOptions) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	how := mnt + ", read-only"
	if o.writable == writableOverlay {
		rootfs, err := mountOverlay(mnt, dir)
		if err != nil {
			return "", err
		}
		spec.Root = &specs.Root{Path: rootfs}
		how = fmt.Sprintf("%s, an overlay of %s writing into %s (umount it when done)", rootfs, mnt, filepath.Join(filepath.Dir(rootfs), "upper"))
	}
	if err := writeSpec(filepath.Join(dir, "config.json"), spec); err != nil {
		if o.writable == writableOverlay {
			_ = unix.Unmount(spec.Root.Path, 0)
		}
		return "", err
	}
	return fmt.Sprintf("wrote %s: root %s; run it: runc run -b %s %s", filepath.Join(dir, "config.json"), how, dir, o.name), nil
}

// checkMountpoints checks that the directories runc mounts on at the top of
// the root (/proc, /dev, /sys) and the working directory exist: runc would
// create them, which a read-only root refuses.
func checkMountpoints(root *os.Root, spec *specs.Spec) error {
	dirs := []string{spec.Process.Cwd}
	for _, m := range spec.Mounts {
		if path.Dir(m.Destination) == "/" {
			dirs = append(dirs, m.Destination)
		}
	}
	for _, d := range dirs {
		st, err := root.Stat("." + d)
		if err == nil && !st.IsDir() {
			err = errors.New("not a directory")
		}
		if err != nil {
			return fmt.Errorf("the image has no directory %s (%v), which runc would have to create on the read-only root: use --rootfs-writable=overlay", d, err)
		}
	}
	return nil
}

// mountAt returns a client of the piecefs mount whose root is mnt, and the
// uid of the user who mounted it.
func mountAt(mnt string) (*mountClient, int, error) {
	abs, err := filepath.Abs(mnt)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, 0, err
	}
	mounts, err := piecefsMounts()
	if err != nil {
		return nil, 0, err
	}
	for _, m := range mounts {
		if m.dir == abs {
			c, err := dialMount(m)
			return c, m.uid, err
		}
	}
	return nil, 0, fmt.Errorf("%s is not the root of a piecefs mount", mnt)
}

// image asks the mount for its publication's image config: nil if it has
// none.
func (c *mountClient) image(ctx context.Context) (*meta.Image, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://piecefs"+pathImage, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", c.dir, err)
	}
	defer resp.Body.Close()
	isJSON := resp.Header.Get("Content-Type") == "application/json"
	switch {
	case resp.StatusCode == http.StatusOK:
		var im meta.Image
		if err := json.NewDecoder(resp.Body).Decode(&im); err != nil {
			return nil, fmt.Errorf("mount %s: bad answer: %w", c.dir, err)
		}
		return &im, nil
	case resp.StatusCode == http.StatusNotFound && isJSON:
		return nil, nil
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("mount %s does not serve image configs: is it an older piecefs?", c.dir)
	}
	return nil, fmt.Errorf("mount %s: %s", c.dir, resp.Status)
}

// handleImage answers the mounted manifest's image config, or 404 with a
// JSON error when it has none.
func (c *controlServer) handleImage(w http.ResponseWriter, _ *http.Request) {
	if c.env.m == nil || c.env.m.Image == nil {
		httpError(w, http.StatusNotFound, errors.New("the mounted publication has no image config"))
		return
	}
	writeJSON(w, c.env.m.Image)
}

// warnPlatform warns when the image was built for another platform.
func warnPlatform(im *meta.Image, warn func(string)) {
	if im == nil {
		return
	}
	if (im.OS != "" && im.OS != runtime.GOOS) || (im.Architecture != "" && im.Architecture != runtime.GOARCH) {
		warn(fmt.Sprintf("the image is for %s/%s, this machine is %s/%s", im.OS, im.Architecture, runtime.GOOS, runtime.GOARCH))
	}
}

// mountHasOption reports whether the mount at dir has a file-system option
// (allow_other) in /proc/self/mountinfo.
func mountHasOption(dir, opt string) bool {
	mounts, _ := mountTable()
	for _, m := range mounts {
		if m.dir == dir && slices.Contains(m.superOpts, opt) {
			return true
		}
	}
	return false
}

// mountOverlay mounts an overlayfs at dir/rootfs whose lower layer is the
// mount at lower and whose upper and work directories are dir/upper and
// dir/work, and returns dir/rootfs.
func mountOverlay(lower, dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	rootfs, upper, work := filepath.Join(dir, "rootfs"), filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	for _, p := range []string{lower, dir} {
		if strings.ContainsAny(p, ",:\\") {
			return "", fmt.Errorf("overlay: %s: a path with ',', ':' or '\\' cannot be an overlayfs option", p)
		}
	}
	for _, d := range []string{rootfs, upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("overlay: %w", err)
		}
	}
	var st, parent unix.Stat_t
	if unix.Stat(rootfs, &st) == nil && unix.Stat(dir, &parent) == nil && st.Dev != parent.Dev {
		return "", fmt.Errorf("overlay: %s is mounted already (an earlier bundle?): umount it first", rootfs)
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", rootfs, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("overlay: mount %s: %w (overlayfs needs root)", rootfs, err)
	}
	return rootfs, nil
}

// writeSpec writes spec as file, indented like `runc spec`, through a
// temporary file renamed into place.
func writeSpec(file string, spec *specs.Spec) error {
	b, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// bundleSpec is the runtime spec of a container of image im (nil: none)
// whose root is rootPath, read-only; names in the image's user are
// resolved through rootfs's /etc/passwd and /etc/group.
func bundleSpec(im *meta.Image, rootPath string, o bundleOptions, rootfs fs.FS) (*specs.Spec, error) {
	if im == nil {
		im = &meta.Image{}
	}
	args := o.args
	if args == nil {
		args = append(slices.Clone(im.Entrypoint), im.Cmd...)
	}
	if len(args) == 0 {
		return nil, errors.New("the image has neither an entrypoint nor a command: give the command to run after --")
	}
	user, home, err := resolveUser(im.User, rootfs)
	if err != nil {
		return nil, err
	}
	s := defaultSpec()
	s.Root = &specs.Root{Path: rootPath, Readonly: true}
	s.Hostname = o.name
	p := s.Process
	p.Args, p.User, p.Env, p.Cwd = args, user, processEnv(im.Env, home), "/"
	if im.WorkingDir != "" {
		p.Cwd = path.Join("/", im.WorkingDir)
	}
	return s, nil
}

// processEnv is the image's environment with a default PATH and HOME (the
// user's home directory) where it sets none, as Docker does.
func processEnv(env []string, home string) []string {
	out := slices.Clone(env)
	has := func(key string) bool {
		return slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, key+"=") })
	}
	if !has("PATH") {
		out = append(out, defaultPath)
	}
	if !has("HOME") {
		out = append(out, "HOME="+home)
	}
	return out
}

// resolveUser turns an image's user ("", "name", "uid", each optionally
// followed by ":group" or ":gid") into ids, with names looked up in
// rootfs's etc/passwd and etc/group, as the OCI image spec says. Without a
// group, the gid is the user's from etc/passwd (0 when the uid has no
// entry); a user found in etc/passwd also gets the groups that list it as
// a member. It returns the user's home directory too ("/" if unknown).
// Numeric ids need no file: one that cannot be read is passed over.
func resolveUser(spec string, rootfs fs.FS) (specs.User, string, error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	if name == "" {
		name = "0" // root, by default
	}
	var u specs.User
	home := "/"
	pw, err := readIDFile(rootfs, "etc/passwd", "user").find(name)
	if err != nil {
		return u, "", fmt.Errorf("image user %q: %w", spec, err)
	}
	u.UID, _ = parseID(name)
	if pw != nil {
		u.UID, _ = parseID(pw[2])
		u.GID, _ = parseID(pw[3])
		home = cmp.Or(pw[5], home)
	}
	groups := readIDFile(rootfs, "etc/group", "group")
	if hasGroup {
		gr, err := groups.find(group)
		if err != nil {
			return u, "", fmt.Errorf("image user %q: %w", spec, err)
		}
		u.GID, _ = parseID(group)
		if gr != nil {
			u.GID, _ = parseID(gr[2])
		}
	}
	if pw != nil {
		u.AdditionalGids = memberOf(groups.lines, pw[0], u.GID)
	}
	return u, home, nil
}

// memberOf lists the gids of the groups that name user as a member, but
// primary.
func memberOf(groups [][]string, user string, primary uint32) []uint32 {
	var out []uint32
	for _, g := range groups {
		id, ok := parseID(g[2])
		if ok && id != primary && !slices.Contains(out, id) && slices.Contains(strings.Split(g[3], ","), user) {
			out = append(out, id)
		}
	}
	return out
}

// parseID parses a decimal uid or gid.
func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// idFile is the image's etc/passwd or etc/group: its lines, split into
// fields, or why it could not be read. A missing file has no lines.
type idFile struct {
	name, what string // "etc/passwd", "user"
	lines      [][]string
	err        error
}

// find returns the line whose id (field 2) is name, when name is a
// number, or whose name is name otherwise. A name must be found; a number
// need not be.
func (f idFile) find(name string) ([]string, error) {
	id, numeric := parseID(name)
	if f.err != nil && !numeric {
		return nil, f.err
	}
	for _, l := range f.lines {
		if n, ok := parseID(l[2]); numeric && ok && n == id || !numeric && l[0] == name {
			return l, nil
		}
	}
	if !numeric {
		return nil, fmt.Errorf("no %s %q in the image's /%s", f.what, name, f.name)
	}
	return nil, nil
}

// readIDFile reads an etc/passwd (7 fields a line) or etc/group (4) of
// the image. Malformed lines are skipped, as libc does; every line kept
// has at least 7 (passwd) or 4 fields.
func readIDFile(rootfs fs.FS, name, what string) idFile {
	f := idFile{name: name, what: what}
	file, err := rootfs.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return f
	}
	if err != nil {
		f.err = err
		return f
	}
	defer file.Close()
	want := 4
	if name == "etc/passwd" {
		want = 7
	}
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if l := strings.Split(sc.Text(), ":"); len(l) >= want && !strings.HasPrefix(l[0], "#") {
			f.lines = append(f.lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		f.err = fmt.Errorf("read /%s: %w", name, err)
	}
	return f
}

// defaultSpec is what `runc spec` writes (runc 1.1), less the terminal:
// its namespaces, mounts, masked and read-only paths, capabilities and
// rlimits.
func defaultSpec() *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	hide := []string{"nosuid", "noexec", "nodev"}
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Capabilities:    &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps, Ambient: caps},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: append(slices.Clone(hide), "mode=1777", "size=65536k")},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: hide},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: append(slices.Clone(hide), "ro")},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: append(slices.Clone(hide), "relatime", "ro")},
		},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			MaskedPaths: []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}
