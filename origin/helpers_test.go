package origin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/piecefs/piecefs/meta"
)

func testData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*13 + i/241)
	}
	return b
}

// fixture is an output directory with one piece, one manifest and one tag,
// served on 127.0.0.1.
type fixture struct {
	root     string
	dir      *Dir
	srv      *httptest.Server
	log      *logtest.Hook
	piece    []byte
	pieceD   meta.Digest
	table    []byte // the piece's block table, at 4 KiB blocks
	tableD   meta.Digest
	manifest []byte
	manD     meta.Digest
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	fx := &fixture{root: t.TempDir(), piece: testData(5000), manifest: []byte(`{"format":"piecefs-manifest"}`)}
	var err error
	if fx.dir, err = OpenDir(fx.root); err != nil {
		t.Fatal(err)
	}
	fx.pieceD = meta.Sum(fx.piece)
	if err := fx.dir.PutPiece(fx.pieceD, fx.piece); err != nil {
		t.Fatal(err)
	}
	fx.table = meta.BlockTable(fx.piece, 4096)
	fx.tableD = meta.Sum(fx.table)
	if err := fx.dir.PutBlocks(fx.tableD, fx.table); err != nil {
		t.Fatal(err)
	}
	if fx.manD, err = fx.dir.PutManifest(fx.manifest); err != nil {
		t.Fatal(err)
	}
	if err := fx.dir.SetTag("latest", fx.manD); err != nil {
		t.Fatal(err)
	}
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	fx.log = hook
	fx.srv = httptest.NewServer(Handler(fx.root, log))
	t.Cleanup(fx.srv.Close)
	return fx
}

// do sends method for rawPath exactly as written: no cleaning and no
// re-escaping, as a hostile client would.
func (fx *fixture) do(t *testing.T, method, rawPath string, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, fx.srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = rawPath
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := fx.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawPath, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, rawPath, err)
	}
	return resp, body
}
