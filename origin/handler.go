package origin

import (
	"io"
	"net/http"

	"github.com/sirupsen/logrus"
)

// Handler serves the output directory at root in the layout the fetch
// package reads: GET and HEAD, with Range requests, for exactly the names
// in the layout; everything else is 404 (or 405 for other methods). log
// receives one Debug entry per request, and a Warn entry for a file that
// exists but cannot be opened; nil discards.
func Handler(root string, log logrus.FieldLogger) http.Handler {
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		l.SetLevel(logrus.PanicLevel)
		log = l
	}
	return &handler{root: root, log: log}
}

type handler struct {
	root string
	log  logrus.FieldLogger
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.log.WithFields(logrus.Fields{"method": r.Method, "path": r.URL.Path, "remote": r.RemoteAddr})
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		log.WithField("status", http.StatusMethodNotAllowed).Debug("origin: request")
		return
	}
	obj, ok := route(r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		log.WithField("status", http.StatusNotFound).Debug("origin: request")
		return
	}
	h.serve(w, r, obj, log)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, obj object, log logrus.FieldLogger) {
	f, fi, err := openRegular(h.root, obj.rel)
	switch {
	case err != nil && missing(err):
		http.NotFound(w, r)
		log.WithField("status", http.StatusNotFound).Debug("origin: request")
		return
	case err != nil:
		http.Error(w, "cannot open the file", http.StatusInternalServerError)
		log.WithField("status", http.StatusInternalServerError).WithError(err).Warn("origin: request")
		return
	}
	defer f.Close()
	obj.setHeaders(w.Header())
	// ServeContent handles HEAD, Range, If-Range and If-None-Match against
	// the ETag set above.
	http.ServeContent(w, r, "", fi.ModTime(), f)
	log.WithFields(logrus.Fields{"range": r.Header.Get("Range"), "size": fi.Size()}).Debug("origin: request")
}
