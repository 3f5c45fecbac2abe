package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// NetnsDir is where `ip netns add` keeps the namespaces it names.
const NetnsDir = "/run/netns"

// netSubnet is every Network's subnet. Each Network has a bridge of its
// own in a namespace of its own, so two Networks (two test processes at
// once) never share a link, and the same addresses in both do not clash.
// No host has a route beyond this subnet: nothing a Network runs can
// reach an address outside it.
const netSubnet = "10.213.0"

// maxHosts is how many hosts a /24 holds besides the network and broadcast
// addresses.
const maxHosts = 253

// netnsPrefix begins the name of every namespace a Network makes:
// "pfs<pid>n<seq>-", so that two processes, or two Networks of one
// process, never pick the same name, and a namespace whose process died
// without deleting it can be told and swept.
const netnsPrefix = "pfs"

// netnsName matches the names a Network makes; group 1 is the PID.
var netnsName = regexp.MustCompile(`^` + netnsPrefix + `([0-9]+)n[0-9]+-`)

var networkSeq atomic.Int64

// NetTools returns an error naming the first program that NewNetwork and
// Host.Command need (ip, nsenter) and cannot find.
func NetTools() error {
	for _, name := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Errorf("%s is not installed: %w", name, err)
		}
	}
	return nil
}

// Network is a private IPv4 network of hosts: one network namespace per
// host, each with an interface eth0 on a veth pair whose other end is a
// port of a bridge in a "switch" namespace of the Network's own. The hosts
// reach each other and nothing else: no host has a default route, and the
// root namespace has no link to any of them. Processes run in a host with
// Host.Command; the host's file systems and mounts are the root
// namespace's, so a FUSE mount made in a host is visible everywhere.
type Network struct {
	// Hosts are the hosts, in the order of NewNetwork's names.
	Hosts  []*Host
	prefix string
	names  []string // every namespace made, the switch's first
}

// Host is one network namespace of a Network, with one address.
type Host struct {
	// Name is the name the caller gave the host.
	Name string
	// Netns is the namespace's name under NetnsDir.
	Netns string
	// Addr is the host's IPv4 address.
	Addr string
}

// Path is the namespace's file, for nsenter --net and setns.
func (h *Host) Path() string { return filepath.Join(NetnsDir, h.Netns) }

// NewNetwork makes a Network with one host per name (names must be
// distinct and at most maxHosts), addressed 10.213.0.1, .2, ... in order.
// On failure it deletes what it made. The caller deletes the Network with
// Close, and should do so even after a failure of its own: namespaces are
// kept by name until deleted, and outlive the process otherwise (the next
// NewNetwork sweeps those whose process is gone).
func NewNetwork(ctx context.Context, names ...string) (n *Network, err error) {
	if len(names) == 0 || len(names) > maxHosts {
		return nil, fmt.Errorf("new network: %d hosts, want 1 to %d", len(names), maxHosts)
	}
	if err := NetTools(); err != nil {
		return nil, err
	}
	sweepNetns()
	n = &Network{prefix: fmt.Sprintf("%s%dn%d-", netnsPrefix, os.Getpid(), networkSeq.Add(1))}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Close())
			n = nil
		}
	}()
	sw := n.prefix + "switch"
	add := []string{"netns add " + sw}
	seen := map[string]bool{}
	for i, name := range names {
		if seen[name] || strings.ContainsAny(name, " \t\n/") || name == "" || name == "switch" {
			return nil, fmt.Errorf("new network: bad or repeated host name %q", name)
		}
		seen[name] = true
		h := &Host{Name: name, Netns: n.prefix + name, Addr: fmt.Sprintf("%s.%d", netSubnet, i+1)}
		n.Hosts = append(n.Hosts, h)
		add = append(add, "netns add "+h.Netns)
	}
	// Namespaces are recorded before they are made, so that Close deletes
	// whatever of them a failed batch made.
	n.names = append([]string{sw}, hostNetns(n.Hosts)...)
	if err := ipBatch(ctx, "", add); err != nil {
		return nil, err
	}
	ports := []string{"link add br0 type bridge", "link set br0 up", "link set lo up"}
	for i, h := range n.Hosts {
		port := "p" + strconv.Itoa(i)
		ports = append(ports,
			fmt.Sprintf("link add %s type veth peer name eth0 netns %s", port, h.Netns),
			fmt.Sprintf("link set %s master br0", port),
			fmt.Sprintf("link set %s up", port))
	}
	if err := ipBatch(ctx, sw, ports); err != nil {
		return nil, err
	}
	for _, h := range n.Hosts {
		if err := ipBatch(ctx, h.Netns, []string{
			"link set lo up",
			"addr add " + h.Addr + "/24 dev eth0",
			"link set eth0 up",
		}); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func hostNetns(hs []*Host) []string {
	var s []string
	for _, h := range hs {
		s = append(s, h.Netns)
	}
	return s
}

// Host returns the host named name, or nil.
func (n *Network) Host(name string) *Host {
	for _, h := range n.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Subnet is the Network's subnet in CIDR notation, for an access list.
func (n *Network) Subnet() string { return netSubnet + ".0/24" }

// Close deletes the Network's namespaces, hosts first. Deleting the switch
// deletes its bridge and veth ends, and with them their peers. A process
// still running in a host keeps that namespace alive, unnamed, until it
// exits: stop the processes first.
func (n *Network) Close() error {
	if n == nil || len(n.names) == 0 {
		return nil
	}
	var errs []error
	for i := len(n.names) - 1; i >= 0; i-- {
		if err := deleteNetns(n.names[i]); err != nil {
			errs = append(errs, err)
		}
	}
	n.names = nil
	return errors.Join(errs...)
}

// deleteNetns deletes the named namespace as `ip netns del` does: unmount
// its file and remove it. A namespace that is not there is no error.
func deleteNetns(name string) error {
	p := filepath.Join(NetnsDir, name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("delete network namespace %s: %w", name, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete network namespace %s: %w", name, err)
	}
	return nil
}

// sweepNetns deletes the namespaces a Network of a process that no longer
// exists left behind (it was killed before its Close ran). Failures are
// ignored: the sweep only tidies.
func sweepNetns() {
	ents, err := os.ReadDir(NetnsDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		m := netnsName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || unix.Kill(pid, 0) != unix.ESRCH {
			continue // alive, or not ours to judge
		}
		_ = deleteNetns(e.Name())
	}
}

// ipBatch runs `ip [-n netns] -batch -` with cmds as its input, one
// command a line, and stops at the first that fails.
func ipBatch(ctx context.Context, netns string, cmds []string) error {
	var args []string
	if netns != "" {
		args = append(args, "-n", netns)
	}
	args = append(args, "-batch", "-")
	in := strings.Join(cmds, "\n") + "\n"
	p, err := Run(ctx, Command{Path: "ip", Args: args, Stdin: strings.NewReader(in)})
	if err != nil {
		where := "the root namespace"
		if netns != "" {
			where = netns
		}
		msg := ""
		if p != nil {
			msg = Tail(p.Stderr(), tailSize)
		}
		return fmt.Errorf("ip in %s: %w\n%s", where, err, msg)
	}
	return nil
}

// Command returns c run in the host's network namespace: nsenter enters
// that namespace only and executes c's program in its place (same PID, so
// Process's group and parent-death signal apply to the program itself).
// The mount namespace stays the caller's, which is why this is nsenter
// --net and not `ip netns exec`: the latter also unshares the mount
// namespace, and a FUSE mount made under it is invisible to the host.
func (h *Host) Command(c Command) Command {
	c.Args = append([]string{"--net=" + h.Path(), "--", c.Path}, c.Args...)
	c.Path = "nsenter"
	return c
}

// DialContext connects to addr from inside the host's network namespace,
// as net.Dialer.DialContext does from the caller's. A socket belongs to
// the namespace it was made in, whichever thread uses it afterwards, so
// only the dialling runs on a thread moved into the namespace, which is
// moved back before it is unlocked. The thread must not end instead (as Go
// ends a thread whose locked goroutine exits): a child started from it
// earlier would get its parent-death signal (see the package
// documentation). Only if moving back fails does the goroutine exit
// locked, so that the thread is not reused in the wrong namespace.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		c, back, err := h.dialHere(ctx, network, addr)
		ch <- result{c, err}
		if back {
			runtime.UnlockOSThread()
		}
	}()
	r := <-ch
	return r.c, r.err
}

// dialHere moves the calling thread, which must be locked, into the
// host's namespace, dials there, and moves it back; back reports whether
// the thread is in its first namespace again.
func (h *Host) dialHere(ctx context.Context, network, addr string) (c net.Conn, back bool, err error) {
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, true, fmt.Errorf("dial in %s: %w", h.Name, err)
	}
	defer self.Close()
	f, err := os.Open(h.Path())
	if err != nil {
		return nil, true, fmt.Errorf("dial in %s: %w", h.Name, err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, true, fmt.Errorf("dial in %s: setns: %w", h.Name, err)
	}
	var d net.Dialer
	c, err = d.DialContext(ctx, network, addr)
	return c, unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil, err
}

// HTTPClient returns a client whose connections are made in the host's
// namespace, without a proxy (the environment's proxy is for the hosts,
// not for the caller looking at them).
func (h *Host) HTTPClient() *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}}
}

// WaitTCP waits, within ctx, until addr accepts a connection from inside
// the host; it fails at once, wrapping ErrExited, when p (if not nil), the
// server, exits first.
func (h *Host) WaitTCP(ctx context.Context, addr string, p *Process) error {
	return waitTCP(ctx, addr, p, h.DialContext)
}

// waitTCP polls dial(addr) until it connects.
func waitTCP(ctx context.Context, addr string, p *Process, dial func(context.Context, string, string) (net.Conn, error)) error {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := dial(dctx, "tcp", addr)
		cancel()
		if err == nil {
			return c.Close()
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s %w (%v) before listening on %s\nstderr: %s", p.name, ErrExited, p.Err(), addr, p.stderrTail())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not listening: %w (last try: %v)", addr, context.Cause(ctx), err)
		case <-tick.C:
		}
	}
}
