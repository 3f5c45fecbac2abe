package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/piecefs/piecefs/origin"
)

func setupServe(fs *flag.FlagSet) func([]string) error {
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free port)")
	newLog := logFlags(fs)
	return func(args []string) error {
		if err := wantArgs(args, "OUT_DIR"); err != nil {
			return err
		}
		log, err := newLog()
		if err != nil {
			return err
		}
		if fi, err := os.Stat(args[0]); err != nil || !fi.IsDir() {
			return fmt.Errorf("%s is not a published directory", args[0])
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: origin.Handler(args[0], log), ReadHeaderTimeout: 30 * time.Second}
		fmt.Printf("serving %s at http://%s\n", args[0], ln.Addr())
		return serveUntilSignal(srv, ln)
	}
}

// serveUntilSignal serves until SIGINT or SIGTERM, then lets requests in
// flight finish for a few seconds.
func serveUntilSignal(srv *http.Server, ln net.Listener) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return err
}
