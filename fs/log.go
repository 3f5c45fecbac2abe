package fs

import (
	"log"
	"strings"

	"github.com/sirupsen/logrus"
)

// logWriter turns the lines go-fuse writes to a *log.Logger into logrus
// entries at one level.
type logWriter struct {
	log   logrus.FieldLogger
	level logrus.Level
}

func (w logWriter) Write(p []byte) (int, error) {
	w.log.WithField("component", "go-fuse").Log(w.level, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fuseLogger receives go-fuse's request traces, when Debug asks for them,
// and otherwise only its complaints (a panic in a handler, a failed reply).
func fuseLogger(opts Options) *log.Logger {
	level := logrus.WarnLevel
	if opts.Debug {
		level = logrus.InfoLevel // asked for, so shown at the default level
	}
	return log.New(logWriter{opts.Log, level}, "", 0)
}

// diagLogger receives the node layer's warnings about the tree.
func diagLogger(opts Options) *log.Logger {
	return log.New(logWriter{opts.Log, logrus.WarnLevel}, "", 0)
}
