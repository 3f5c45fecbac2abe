package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"
)

// logFlags adds --log-level and returns a constructor for the logger, which
// writes to stderr so stdout carries only a command's result.
func logFlags(fs *flag.FlagSet) func() (*logrus.Logger, error) {
	level := fs.String("log-level", "info", "log verbosity: debug, info, warn or error")
	return func() (*logrus.Logger, error) {
		lv, err := logrus.ParseLevel(*level)
		if err != nil {
			return nil, usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", *level)}
		}
		l := logrus.New()
		l.SetOutput(os.Stderr)
		l.SetLevel(lv)
		return l, nil
	}
}
