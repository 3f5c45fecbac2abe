package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/fetch"
	"github.com/piecefs/piecefs/meta"
)

// The control socket: a running mount serves `piecefs preheat`, `unpin`
// and `status` over HTTP on a Unix socket, found from the mount through
// the root's user.piecefs.control attribute (see findMount). Anyone who can
// reach the socket may ask for status; only root and the user who mounted
// may preheat or unpin, checked with the peer's credentials (SO_PEERCRED)
// on every request.
const (
	controlSocketName = "piecefs.sock"
	pathIdentity      = "/v1/identity"
	pathPreheat       = "/v1/preheat"
	pathUnpin         = "/v1/unpin"
	pathStatus        = "/v1/status"
)

// maxSocketPath is the longest path a Unix socket address holds on Linux
// (sun_path is 108 bytes, NUL included).
const maxSocketPath = 107

// controlSocketPath is where a mount with cache directory dir listens: in
// the directory, which the mount holds locked, or, when that path is too
// long for a socket address, in the temporary directory under a name made
// from the cache directory's.
func controlSocketPath(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if p := filepath.Join(abs, controlSocketName); len(p) <= maxSocketPath {
		return p, nil
	}
	sum := sha256.Sum256([]byte(abs))
	p := filepath.Join(os.TempDir(), "piecefs-"+hex.EncodeToString(sum[:8])+".sock")
	if len(p) > maxSocketPath {
		return "", fmt.Errorf("no path for the control socket: %s is too long", p)
	}
	return p, nil
}

// identity is what a mount says of itself, so that a command can check it
// reached the mount it meant.
type identity struct {
	Mountpoint string `json:"mountpoint"`
	Manifest   string `json:"manifest"`
	Origin     string `json:"origin"`
	PID        int    `json:"pid"`
}

// controlServer serves the control socket of a running mount.
type controlServer struct {
	env    preheatEnv
	id     identity
	owner  int // the uid that may preheat and unpin, besides root
	status func(ctx context.Context, paths []string) (statusReply, error)
	log    logrus.FieldLogger

	path string
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

type credKey struct{}

// startControl listens on the socket at path (replacing a stale one: the
// caller holds the cache directory's lock, so no live mount owns it) and
// serves until Close.
func startControl(path string, c *controlServer) (*controlServer, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// Everyone may connect; each request is checked against the peer's uid.
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	c.path, c.ln, c.done = path, ln, make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathIdentity, c.handleIdentity)
	mux.HandleFunc("POST "+pathPreheat, c.handlePreheat)
	mux.HandleFunc("POST "+pathUnpin, c.handleUnpin)
	mux.HandleFunc("POST "+pathStatus, c.handleStatus)
	mux.HandleFunc("GET "+pathImage, c.handleImage)
	c.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext: func(ctx context.Context, conn net.Conn) context.Context {
			return context.WithValue(ctx, credKey{}, peerCred(conn))
		},
	}
	go func() {
		defer close(c.done)
		if err := c.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.WithError(err).Error("control socket stopped")
		}
	}()
	return c, nil
}

// Close stops serving: requests in progress (a preheat) are cancelled, and
// the socket is removed.
func (c *controlServer) Close() error {
	err := c.srv.Close()
	<-c.done
	if rerr := os.Remove(c.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

// peerCred returns the credentials of the process at the other end of a
// Unix socket connection, or nil.
func peerCred(conn net.Conn) *unix.Ucred {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	var cred *unix.Ucred
	_ = raw.Control(func(fd uintptr) {
		cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	return cred
}

// mayChange reports whether the request comes from root or the mount's
// owner, answering 403 if not.
func (c *controlServer) mayChange(w http.ResponseWriter, r *http.Request) bool {
	cred, _ := r.Context().Value(credKey{}).(*unix.Ucred)
	if c.allows(cred) {
		return true
	}
	uid := "unknown"
	if cred != nil {
		uid = fmt.Sprint(cred.Uid)
	}
	httpError(w, http.StatusForbidden, fmt.Errorf("only root or the user who mounted (uid %d) may preheat or unpin; you are uid %s", c.owner, uid))
	return false
}

// allows reports whether a peer may change the cache: root or the owner;
// a peer whose credentials could not be read may not.
func (c *controlServer) allows(cred *unix.Ucred) bool {
	return cred != nil && (cred.Uid == 0 || int(cred.Uid) == c.owner)
}

func (c *controlServer) handleIdentity(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, c.id)
}

// preheatEvent is one line of the preheat answer: progress, then a last
// line with the summary or an error.
type preheatEvent struct {
	Progress *preheatProgress `json:"progress,omitempty"`
	Summary  *preheatSummary  `json:"summary,omitempty"`
	Error    string           `json:"error,omitempty"`
}

// handlePreheat streams newline-delimited preheatEvents. A client that
// goes away (Ctrl-C) cancels the request's context, and so the preheat;
// what was fetched stays.
func (c *controlServer) handlePreheat(w http.ResponseWriter, r *http.Request) {
	if !c.mayChange(w, r) {
		return
	}
	var req preheatRequest
	if !readJSON(w, r, &req) {
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	var mu = make(chan struct{}, 1) // serialises writes of ticks and the end
	send := func(ev preheatEvent) {
		mu <- struct{}{}
		defer func() { <-mu }()
		if enc.Encode(ev) == nil {
			_ = rc.Flush()
		}
	}
	log := c.log.WithFields(logrus.Fields{"paths": req.Paths, "pin": req.Pin})
	log.Info("preheat")
	sum, err := c.env.run(r.Context(), req, func(p preheatProgress) { send(preheatEvent{Progress: &p}) })
	if err != nil {
		log.WithError(err).Warn("preheat refused")
		send(preheatEvent{Error: err.Error()})
		return
	}
	log.WithFields(logrus.Fields{"fetched": sum.Fetched, "held": sum.Held, "failed": sum.Failed, "files_failed": len(sum.FailedFiles)}).Info("preheat done")
	send(preheatEvent{Summary: &sum})
}

// unpinRequest and unpinReply are the unpin call.
type unpinRequest struct {
	Paths []string `json:"paths"`
}
type unpinReply struct {
	Removed int `json:"removed"`
}

func (c *controlServer) handleUnpin(w http.ResponseWriter, r *http.Request) {
	if !c.mayChange(w, r) {
		return
	}
	var req unpinRequest
	if !readJSON(w, r, &req) {
		return
	}
	n, err := c.env.unpin(req.Paths)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	c.log.WithFields(logrus.Fields{"paths": req.Paths, "removed": n}).Info("unpin")
	writeJSON(w, unpinReply{Removed: n})
}

// statusRequest asks for the files at or under Paths.
type statusRequest struct {
	Paths []string `json:"paths"`
}

func (c *controlServer) handleStatus(w http.ResponseWriter, r *http.Request) {
	var req statusRequest
	if !readJSON(w, r, &req) {
		return
	}
	rep, err := c.status(r.Context(), req.Paths)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, rep)
}

// maxRequest bounds a request body: paths only.
const maxRequest = 4 << 20

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		httpError(w, http.StatusBadRequest, fmt.Errorf("bad request: %w", err))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// errorReply is the body of an error answer.
type errorReply struct {
	Error string `json:"error"`
}

func httpError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(errorReply{Error: err.Error()})
}

// memoryStats is what status needs of the memory tier; *cache.Cache has it.
type memoryStats interface {
	Bytes() int64
	Len() int
}

// fetchStats is what status needs of the network tier; *fetch.Fetcher has it.
type fetchStats interface {
	Stats() fetch.Stats
}

// newMountControl makes the control server of a mount of manifest d.
func newMountControl(c mountConfig, d meta.Digest, m *meta.Manifest, st pinStore, r preheater, mem memoryStats, f fetchStats, log logrus.FieldLogger) *controlServer {
	env := preheatEnv{m: m, origin: strings.TrimRight(c.origin, "/"), store: st, reader: r, memory: c.memoryCache}
	dir, err := filepath.Abs(c.mountpoint)
	if err == nil {
		// As mountinfo names it, which is what a command finds.
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			dir = real
		}
	}
	id := identity{Mountpoint: dir, Manifest: d.String(), Origin: env.origin, PID: os.Getpid()}
	status := func(ctx context.Context, paths []string) (statusReply, error) {
		var rep statusReply
		var err error
		if rep.Files, rep.Dirs, err = env.filesStatus(ctx, paths); err != nil {
			return rep, err
		}
		ms := &rep.Mount
		ms.Mountpoint, ms.Manifest, ms.Origin = id.Mountpoint, id.Manifest, id.Origin
		if mem != nil {
			ms.Memory = tierStatus{Bytes: mem.Bytes(), Limit: c.memoryCache, Entries: mem.Len()}
		}
		ms.setDisk(st.Stats())
		fs := f.Stats()
		ms.Fetch.Pieces, ms.Fetch.Ranges, ms.Fetch.Bytes, ms.Fetch.Requests = fs.Pieces, fs.Ranges, fs.Bytes, fs.Requests
		ms.Fetch.Retries, ms.Fetch.VerifyFailures, ms.Fetch.InFlight = fs.Retries, fs.VerifyFailures, fs.InFlight
		ms.Fetch.Failovers = fs.Failovers
		for _, o := range fs.Origins {
			ms.Origins = append(ms.Origins, originStatus{URL: o.URL, Requests: o.Requests, Bytes: o.Bytes, Failures: o.Failures, Up: o.Healthy})
		}
		return rep, nil
	}
	return &controlServer{env: env, id: id, owner: os.Getuid(), status: status, log: log.WithField("component", "control")}
}
