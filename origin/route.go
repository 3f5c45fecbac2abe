package origin

import (
	"net/http"
	"strings"

	"github.com/piecefs/piecefs/meta"
)

const (
	immutable = "public, max-age=31536000, immutable"
	mutable   = "no-cache"
)

// object is a name in the layout that a request may ask for.
type object struct {
	rel         string // slash-separated path under the root
	contentType string
	cache       string // Cache-Control
	etag        string // strong ETag; empty for tags, whose content changes
}

// route maps a request path to the object it names. Only paths of exactly
// the layout's shapes are accepted, and the object's path is rebuilt from
// the parsed digest or tag rather than taken from the request.
func route(urlPath string) (object, bool) {
	rest, ok := strings.CutPrefix(urlPath, "/")
	if !ok {
		return object{}, false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 3 && parts[0] == "pieces":
		return routeFanned(parts[1], parts[2], meta.PiecePath)
	case len(parts) == 3 && parts[0] == "blocks":
		return routeFanned(parts[1], parts[2], meta.BlocksPath)
	case len(parts) == 2 && parts[0] == "manifests":
		return routeManifest(parts[1])
	case len(parts) == 2 && parts[0] == "tags":
		return routeTag(parts[1])
	}
	return object{}, false
}

// routeFanned routes a piece or a block table: an object named by its
// digest under a two-digit fan-out directory, placed by layout.
func routeFanned(fanout, name string, layout func(meta.Digest) string) (object, bool) {
	d, err := meta.ParseHex(name)
	if err != nil || fanout != name[:2] {
		return object{}, false
	}
	return object{rel: layout(d), contentType: "application/octet-stream", cache: immutable, etag: `"` + name + `"`}, true
}

func routeManifest(file string) (object, bool) {
	name, ok := strings.CutSuffix(file, ".json")
	if !ok {
		return object{}, false
	}
	d, err := meta.ParseHex(name)
	if err != nil {
		return object{}, false
	}
	return object{rel: meta.ManifestPath(d), contentType: "application/json", cache: immutable, etag: `"` + name + `"`}, true
}

func routeTag(name string) (object, bool) {
	if meta.ValidTag(name) != nil {
		return object{}, false
	}
	return object{rel: meta.TagPath(name), contentType: "application/octet-stream", cache: mutable}, true
}

func (o object) setHeaders(h http.Header) {
	h.Set("Content-Type", o.contentType)
	h.Set("Cache-Control", o.cache)
	h.Set("X-Content-Type-Options", "nosniff")
	if o.etag != "" {
		h.Set("ETag", o.etag)
	}
}
