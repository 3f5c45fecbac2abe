package main

import (
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/sirupsen/logrus"
)

// startDebugServer serves Go's profiling endpoints (/debug/pprof/) on addr
// until stop is called, for finding where a slow read spends its time.
func startDebugServer(addr string, log logrus.FieldLogger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.WithField("addr", ln.Addr().String()).Info("serving /debug/pprof/")
	return func() { srv.Close() }, nil
}
