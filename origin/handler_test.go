package origin

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/meta"
)

func TestHandlerServes(t *testing.T) {
	fx := newFixture(t)
	piecePath := "/" + meta.PiecePath(fx.pieceD)
	manPath := "/" + meta.ManifestPath(fx.manD)
	pieceETag := `"` + fx.pieceD.Hex() + `"`
	tests := []struct {
		name       string
		method     string
		path       string
		hdr        http.Header
		wantStatus int
		wantBody   []byte
		wantHdr    map[string]string
	}{
		{name: "piece", method: "GET", path: piecePath, wantStatus: 200, wantBody: fx.piece, wantHdr: map[string]string{
			"Cache-Control": "public, max-age=31536000, immutable", "ETag": pieceETag,
			"Content-Type": "application/octet-stream", "Content-Length": strconv.Itoa(len(fx.piece)),
		}},
		{name: "piece HEAD", method: "HEAD", path: piecePath, wantStatus: 200, wantBody: []byte{}, wantHdr: map[string]string{
			"Content-Length": strconv.Itoa(len(fx.piece)), "ETag": pieceETag,
		}},
		{name: "piece range", method: "GET", path: piecePath, hdr: http.Header{"Range": {"bytes=100-199"}},
			wantStatus: 206, wantBody: fx.piece[100:200], wantHdr: map[string]string{
				"Content-Range": "bytes 100-199/" + strconv.Itoa(len(fx.piece)), "Content-Length": "100",
			}},
		{name: "piece suffix range", method: "GET", path: piecePath, hdr: http.Header{"Range": {"bytes=-10"}},
			wantStatus: 206, wantBody: fx.piece[len(fx.piece)-10:]},
		{name: "piece range past the end", method: "GET", path: piecePath, hdr: http.Header{"Range": {"bytes=99999-"}},
			wantStatus: 416},
		{name: "piece If-None-Match", method: "GET", path: piecePath, hdr: http.Header{"If-None-Match": {pieceETag}},
			wantStatus: 304, wantBody: []byte{}},
		{name: "manifest", method: "GET", path: manPath, wantStatus: 200, wantBody: fx.manifest, wantHdr: map[string]string{
			"Cache-Control": "public, max-age=31536000, immutable", "ETag": `"` + fx.manD.Hex() + `"`,
			"Content-Type": "application/json",
		}},
		{name: "block table", method: "GET", path: "/" + meta.BlocksPath(fx.tableD), wantStatus: 200, wantBody: fx.table,
			wantHdr: map[string]string{
				"Cache-Control": "public, max-age=31536000, immutable", "ETag": `"` + fx.tableD.Hex() + `"`,
				"Content-Type": "application/octet-stream", "Content-Length": strconv.Itoa(len(fx.table)),
			}},
		{name: "block table by a piece's name", method: "GET", path: "/blocks/" + fx.pieceD.Hex()[:2] + "/" + fx.pieceD.Hex(), wantStatus: 404},
		{name: "tag", method: "GET", path: "/tags/latest", wantStatus: 200, wantBody: []byte(fx.manD.String() + "\n"),
			wantHdr: map[string]string{"Cache-Control": "no-cache", "ETag": "", "Content-Type": "application/octet-stream"}},
		{name: "POST", method: "POST", path: piecePath, wantStatus: 405, wantHdr: map[string]string{"Allow": "GET, HEAD"}},
		{name: "PUT", method: "PUT", path: "/tags/latest", wantStatus: 405, wantHdr: map[string]string{"Allow": "GET, HEAD"}},
		{name: "DELETE", method: "DELETE", path: "/tags/latest", wantStatus: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := fx.do(t, tt.method, tt.path, tt.hdr)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%s %s: status %d, want %d", tt.method, tt.path, resp.StatusCode, tt.wantStatus)
			}
			if tt.wantBody != nil && !bytes.Equal(body, tt.wantBody) {
				t.Errorf("%s %s: got %d bytes, want %d", tt.method, tt.path, len(body), len(tt.wantBody))
			}
			for k, want := range tt.wantHdr {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s %s: header %s: got %q, want %q", tt.method, tt.path, k, got, want)
				}
			}
		})
	}
}

func TestHandlerNotFound(t *testing.T) {
	fx := newFixture(t)
	h := fx.pieceD.Hex()
	other := meta.Sum([]byte("absent")).Hex()
	paths := []string{
		"/",
		"/../etc/passwd",
		"/pieces/../../x",
		"/pieces/" + h[:2] + "/../../tags/latest",
		"/%2e%2e/",
		"/%2e%2e/etc/passwd",
		"/pieces/%2e%2e/%2e%2e/etc/passwd",
		"/pieces/",
		"/pieces/" + h[:2],
		"/pieces/" + h[:2] + "/",
		"/manifests/",
		"/tags/",
		"/tags/..",
		"/tags/.hidden",
		"/tags/a%2fb",
		"/tags/latest/",
		"//etc/passwd",
		"/etc/passwd",
		"/pieces/" + h[:2] + "/" + h + "/",
		"/pieces/" + h[:2] + "//" + h,
		"/pieces//" + h,
		"/pieces/zz/" + h,
		"/pieces/" + other[:2] + "/" + h, // right name, wrong fan-out directory
		"/pieces/" + h[:2] + "/" + h[:63],
		"/pieces/" + h[:2] + "/" + h + "0",
		"/pieces/" + h[:2] + "/" + h + ".json",
		"/pieces/" + h[:2] + "/" + h + "%00",
		"/pieces/" + h[:2] + "/" + string(bytes.ToUpper([]byte(h))),
		"/pieces/" + other[:2] + "/" + other, // well formed, absent
		"/manifests/" + fx.manD.Hex(),
		"/manifests/" + fx.manD.Hex() + ".JSON",
		"/manifests/" + other + ".json",
		"/tags/absent",
		"/PIECES/" + h[:2] + "/" + h,
	}
	for _, p := range paths {
		if resp, body := fx.do(t, "GET", p, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d (%d bytes), want 404", p, resp.StatusCode, len(body))
		}
	}
}

// TestHandlerPlantedFiles plants what a careless or hostile publisher could
// leave in the directory under layout names: none of it may be served.
func TestHandlerPlantedFiles(t *testing.T) {
	fx := newFixture(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	plant := func(name string, make func(p string) error) string {
		d := meta.Sum([]byte(name))
		p := filepath.Join(fx.root, meta.PiecePath(d))
		if err := mkdirDurable(filepath.Dir(p)); err != nil {
			t.Fatal(err)
		}
		if err := make(p); err != nil {
			t.Fatalf("planting %s: %v", name, err)
		}
		return "/" + meta.PiecePath(d)
	}
	paths := map[string]string{
		"symlink to a file outside": plant("link", func(p string) error { return os.Symlink(secret, p) }),
		"symlink to a piece inside": plant("inner", func(p string) error {
			return os.Symlink(filepath.Join(fx.root, meta.PiecePath(fx.pieceD)), p)
		}),
		"directory":   plant("dir", func(p string) error { return os.Mkdir(p, 0o755) }),
		"fifo":        plant("fifo", func(p string) error { return unix.Mkfifo(p, 0o644) }),
		"tag symlink": "/tags/evil",
	}
	if err := os.Symlink(secret, filepath.Join(fx.root, "tags", "evil")); err != nil {
		t.Fatal(err)
	}
	// A fan-out directory that is a symlink to a directory outside holding
	// a file under the piece's name.
	d := unusedFanout(t, fx.root)
	if err := os.WriteFile(filepath.Join(outside, d.Hex()), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(fx.root, "pieces", d.Hex()[:2])); err != nil {
		t.Fatal(err)
	}
	paths["symlinked fan-out directory"] = "/" + meta.PiecePath(d)

	for name, p := range paths {
		if resp, body := fx.do(t, "GET", p, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: GET %s: status %d (%d bytes), want 404", name, p, resp.StatusCode, len(body))
		}
	}
}

// unusedFanout returns a digest whose fan-out directory does not exist yet.
func unusedFanout(t *testing.T, root string) meta.Digest {
	for i := 0; ; i++ {
		d := meta.Sum([]byte("fanout" + strconv.Itoa(i)))
		if _, err := os.Lstat(filepath.Join(root, "pieces", d.Hex()[:2])); os.IsNotExist(err) {
			return d
		}
	}
}

func TestHandlerLogs(t *testing.T) {
	fx := newFixture(t)
	fx.do(t, "GET", "/tags/latest", nil)
	e := fx.log.LastEntry()
	if e == nil || e.Data["path"] != "/tags/latest" || e.Data["method"] != "GET" {
		t.Errorf("log: got %v, want a Debug entry with method and path", e)
	}
}
