package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/piecefs/piecefs/internal/harness"
)

// origin is the HTTP side: the publish output for piecefs and curl, the
// source tree with directory listings for rclone's http backend (which
// cannot read the piecefs layout), and the original big file for httpfs2
// (which mounts one file's URL). All serve the same bytes, except that the
// file for httpfs2 may be a prefix of the big file (httpfs2MaxSize).
type origin struct {
	kind    string // "nginx" or "piecefs serve"
	url     string // the publish output
	srcURL  string // the source tree with listings; "" when nothing serves it
	srcBy   string // what serves srcURL
	fileURL string // the httpfs2 file; "" when nothing serves it
}

// originTimeout bounds how long an origin may take to serve.
const originTimeout = 30 * time.Second

// startNginx serves out and src from one nginx process, tuned for many
// long-lived connections: src with directory listings for rclone, and,
// when httpfs2 is installed, its file on a third port with "Accept-Ranges:
// bytes" on every response, as httpfs2 wants.
func (b *bench) startNginx(ctx context.Context, out, src string) (*origin, error) {
	ctx, cancel := context.WithTimeout(ctx, originTimeout)
	defer cancel()
	sites := []harness.NginxSite{{Root: out, ReadyPath: "/tags/latest"}, {Root: src, Listing: true}}
	if b.peerDir != "" {
		sites = append(sites, harness.NginxSite{Root: b.peerDir, ReadyPath: "/" + bigName, AcceptRanges: true})
	}
	n, err := harness.StartNginx(ctx, harness.NginxOptions{
		Binary:     b.tools.nginx,
		Dir:        filepath.Join(b.tmp, "nginx"),
		Throughput: true,
		Sites:      sites,
	})
	if err != nil {
		return nil, err
	}
	b.clean.add(func() { _ = n.Stop(context.Background(), stopTimeout) })
	o := &origin{kind: "nginx", url: n.URLs[0], srcURL: n.URLs[1], srcBy: "nginx autoindex"}
	if b.peerDir != "" {
		o.fileURL = n.URLs[2] + "/" + bigName
	}
	return o, nil
}

// startServe serves out with `piecefs serve` and, when rclone is installed,
// src with `rclone serve http`, which lists directories as rclone's http
// backend expects, and serves the big file to httpfs2 when httpfs2 can
// mount it whole.
func (b *bench) startServe(ctx context.Context, out, src string) (*origin, error) {
	ctx, cancel := context.WithTimeout(ctx, originTimeout)
	defer cancel()
	p, err := b.startChild(b.bin, "serve", "--addr", "127.0.0.1:0", out)
	if err != nil {
		return nil, err
	}
	l, err := p.NextLine(ctx)
	if err != nil {
		return nil, err
	}
	_, url, ok := harness.ParseServeLine(l.Text)
	if !ok {
		return nil, fmt.Errorf("piecefs serve printed %q, want %q", l.Text, "serving DIR at http://127.0.0.1:PORT")
	}
	o := &origin{kind: "piecefs serve", url: url}
	if b.tools.rclone == "" {
		return o, nil
	}
	ports, err := harness.FreePorts(1)
	if err != nil {
		return nil, err
	}
	o.srcURL, o.srcBy = harness.LoopbackURL(ports[0]), "rclone serve http"
	if b.peerDir != "" && b.peerSize == b.data.bigSize {
		o.fileURL = o.srcURL + "/" + bigName
	}
	rp, err := b.startChild(b.tools.rclone, "serve", "http", "--config", b.rcloneConf, "--read-only",
		"--addr", fmt.Sprintf("127.0.0.1:%d", ports[0]), src)
	if err != nil {
		return nil, err
	}
	return o, harness.WaitHTTP(ctx, o.srcURL+"/", rp)
}
