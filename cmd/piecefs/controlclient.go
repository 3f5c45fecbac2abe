package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/internal/harness"
)

// mountFSType is the file system type a piecefs mount has in mountinfo
// (go-fuse's "fuse." and fs.Mount's Name).
const mountFSType = "fuse.piecefs"

// controlAttr is the root's attribute that names the control socket.
const controlAttr = "user.piecefs.control"

// mountClient talks to the control socket of one running mount.
type mountClient struct {
	dir    string // the mountpoint, as mountinfo gives it
	socket string
	http   *http.Client
}

// mountEntry is one line of /proc/self/mountinfo that matters here.
type mountEntry struct {
	dir, fstype string
	superOpts   []string // the file system's options: user_id=N, allow_other, …
	uid         int      // a FUSE mount's user_id, or -1
}

// mountTable reads this process's mount table.
func mountTable() ([]mountEntry, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("list mounts: %w", err)
	}
	var out []mountEntry
	for _, line := range strings.Split(string(b), "\n") {
		// id parent maj:min root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		e := mountEntry{dir: harness.UnescapeMount(f[4]), fstype: g[0], superOpts: strings.Split(g[2], ","), uid: -1}
		for _, o := range e.superOpts {
			if v, ok := strings.CutPrefix(o, "user_id="); ok {
				if n, err := strconv.Atoi(v); err == nil {
					e.uid = n
				}
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// piecefsMounts lists the piecefs mounts this process can see.
func piecefsMounts() ([]mountEntry, error) {
	all, err := mountTable()
	if err != nil {
		return nil, err
	}
	var out []mountEntry
	for _, e := range all {
		if e.fstype == mountFSType {
			out = append(out, e)
		}
	}
	return out, nil
}

// findMountOf finds the one piecefs mount that holds every path and returns
// a client of its control socket and the paths relative to its root.
func findMountOf(paths []string) (*mountClient, []string, error) {
	mounts, err := piecefsMounts()
	if err != nil {
		return nil, nil, err
	}
	var found *mountEntry
	rel := make([]string, len(paths))
	for i, p := range paths {
		abs, err := filepath.Abs(p)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
		var best *mountEntry
		for j := range mounts {
			m := &mounts[j]
			if (abs == m.dir || strings.HasPrefix(abs, strings.TrimSuffix(m.dir, "/")+"/")) && (best == nil || len(m.dir) > len(best.dir)) {
				best = m
			}
		}
		if best == nil {
			return nil, nil, fmt.Errorf("%s is not inside a piecefs mount (for a cache directory with no mount running, use --cache DIR ORIGIN_URL)", p)
		}
		if found != nil && found.dir != best.dir {
			return nil, nil, fmt.Errorf("%s and %s are in different mounts (%s, %s): one mount per command", paths[0], p, found.dir, best.dir)
		}
		found = best
		rel[i] = strings.TrimPrefix(strings.TrimPrefix(abs, found.dir), "/")
	}
	c, err := dialMount(*found)
	if err != nil {
		return nil, nil, err
	}
	return c, rel, nil
}

// dialMount finds a mount's control socket and checks that the mount
// answers on it: the socket must be owned by root or the user who mounted,
// and what answers must be the mount at that directory.
func dialMount(m mountEntry) (*mountClient, error) {
	buf := make([]byte, 4096)
	n, err := unix.Getxattr(m.dir, controlAttr, buf)
	if err != nil {
		return nil, fmt.Errorf("mount %s: no control socket (%s: %w); is it an older piecefs?", m.dir, controlAttr, err)
	}
	sock := string(buf[:n])
	var st unix.Stat_t
	if err := unix.Lstat(sock, &st); err != nil {
		return nil, fmt.Errorf("mount %s: control socket %s: %w", m.dir, sock, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || (st.Uid != 0 && int(st.Uid) != m.uid) {
		return nil, fmt.Errorf("mount %s: %s is not a socket of root or of the mount's user (uid %d): refusing it", m.dir, sock, m.uid)
	}
	c := &mountClient{dir: m.dir, socket: sock, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}}
	var id identity
	if err := c.call(context.Background(), pathIdentity, nil, &id); err != nil {
		return nil, err
	}
	if id.Mountpoint != m.dir {
		return nil, fmt.Errorf("mount %s: its control socket %s answers for %s: refusing it", m.dir, sock, id.Mountpoint)
	}
	return c, nil
}

// post sends a request to the mount and returns its answer, which the
// caller closes; an error answer is turned into an error.
func (c *mountClient) post(ctx context.Context, path string, req any) (*http.Response, error) {
	method, body := http.MethodGet, []byte(nil)
	if req != nil {
		method = http.MethodPost
		var err error
		if body, err = json.Marshal(req); err != nil {
			return nil, err
		}
	}
	hreq, err := http.NewRequestWithContext(ctx, method, "http://piecefs"+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", c.dir, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e errorReply
		if json.NewDecoder(resp.Body).Decode(&e) != nil || e.Error == "" {
			e.Error = resp.Status
		}
		return nil, fmt.Errorf("mount %s: %s", c.dir, e.Error)
	}
	return resp, nil
}

// call sends req (GET when nil) and decodes the answer into resp.
func (c *mountClient) call(ctx context.Context, path string, req, resp any) error {
	r, err := c.post(ctx, path, req)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	if err := json.NewDecoder(r.Body).Decode(resp); err != nil {
		return fmt.Errorf("mount %s: bad answer: %w", c.dir, err)
	}
	return nil
}

// preheat asks the mount to preheat, calling tick with its progress, and
// returns its summary.
func (c *mountClient) preheat(ctx context.Context, req preheatRequest, tick func(preheatProgress)) (preheatSummary, error) {
	r, err := c.post(ctx, pathPreheat, req)
	if err != nil {
		return preheatSummary{}, err
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 64<<10), 64<<20) // the summary lists failed files
	for sc.Scan() {
		var ev preheatEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return preheatSummary{}, fmt.Errorf("mount %s: bad answer: %w", c.dir, err)
		}
		switch {
		case ev.Error != "":
			return preheatSummary{}, fmt.Errorf("mount %s: %s", c.dir, ev.Error)
		case ev.Summary != nil:
			return *ev.Summary, nil
		case ev.Progress != nil:
			tick(*ev.Progress)
		}
	}
	if err := sc.Err(); err != nil {
		return preheatSummary{}, fmt.Errorf("mount %s: %w", c.dir, err)
	}
	if err := ctx.Err(); err != nil {
		return preheatSummary{}, err
	}
	return preheatSummary{}, fmt.Errorf("mount %s: the answer ended early (did the mount stop?)", c.dir)
}

// signalContext is a context that SIGINT and SIGTERM end.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
