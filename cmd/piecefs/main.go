// Command piecefs publishes a directory as content-addressed pieces, serves
// it over HTTP, and mounts it anywhere as a read-only directory that fetches
// only the bytes that are read, verifying every one.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit statuses, documented in README.md.
const (
	exitOK    = 0
	exitError = 1 // the command failed: the message says why
	exitUsage = 2 // bad arguments
	// exitForced: a mount was shut down by a second signal, without waiting
	// for files still open on it.
	exitForced = 3
)

// command is one subcommand: its flags are declared by setup, and run does
// the work with the remaining arguments.
type command struct {
	name    string
	args    string // the synopsis after the flags
	summary string
	setup   func(fs *flag.FlagSet) func(args []string) error
}

var commands = []command{
	{"publish", "SRC_DIR OUT_DIR", "write a directory as pieces and a manifest into OUT_DIR", setupPublish},
	{"import", "IMAGE OUT_DIR", "flatten an OCI image (layout DIR[:REF], OCI archive or docker save tarball) into pieces and a manifest in OUT_DIR", setupImport},
	{"serve", "OUT_DIR", "serve a published directory over HTTP", setupServe},
	{"mount", "ORIGIN_URL MOUNTPOINT [-- ARGS... (with --bundle)]", "mount a published tree, fetching (and verifying) the blocks or pieces that are read", setupMount},
	{"preheat", "PATH... | --cache DIR ORIGIN_URL [PATH...]", "fetch files of a mount into its cache ahead of their reads (through the running mount, or into a cache directory with none)", setupPreheat},
	{"unpin", "PATH... | --cache DIR ORIGIN_URL PATH...", "let pinned files be evicted again", setupUnpin},
	{"status", "PATH...", "show what of files of a running mount is cached and pinned, and the mount's tiers and counters", setupStatus},
	{"bundle", "MOUNTPOINT BUNDLE_DIR [-- ARGS...]", "write an OCI runtime bundle (config.json) that runs the mounted image with the mount as its root file system; ARGS after -- replace the image's entrypoint and command", setupBundle},
	{"verify", "[ORIGIN_URL]", "check every cached piece against its digest, drop bad ones, and refetch them from ORIGIN_URL if given", setupVerify},
	{"demo", "", "publish sample content, serve it on loopback, mount it and read it back", setupDemo},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || isHelp(args[0]) || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			return runCommand(c, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "piecefs: unknown command %q; see 'piecefs --help'\n", args[0])
	return exitUsage
}

func runCommand(c command, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line below
	body := c.setup(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(stdout, c, fs)
			return exitOK
		}
		fmt.Fprintf(stderr, "piecefs %s: %v; see 'piecefs %s --help'\n", c.name, err, c.name)
		return exitUsage
	}
	if err := body(fs.Args()); err != nil {
		var u usageError
		if errors.Is(err, errForced) {
			fmt.Fprintf(stderr, "piecefs %s: %v\n", c.name, err)
			return exitForced
		}
		if errors.As(err, &u) {
			fmt.Fprintf(stderr, "piecefs %s: %v; see 'piecefs %s --help'\n", c.name, err, c.name)
			return exitUsage
		}
		fmt.Fprintf(stderr, "piecefs %s: %v\n", c.name, err)
		return exitError
	}
	return exitOK
}

// usageError marks an error in the command line rather than in the work.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func wantArgs(args []string, names ...string) error {
	if len(args) != len(names) {
		return usageError{fmt.Sprintf("want %d arguments (%s), got %d", len(names), strings.Join(names, " "), len(args))}
	}
	return nil
}

func isHelp(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

func usage(w io.Writer) {
	fmt.Fprintln(w, "piecefs mounts published content as a read-only directory, fetching and verifying pieces as they are read.")
	fmt.Fprintln(w, "\nUsage:\n  piecefs COMMAND [flags] ARGS")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\n"+originHelp)
	fmt.Fprintln(w, "\nRun 'piecefs COMMAND --help' for a command's flags.")
}

// originHelp says what an ORIGIN_URL may be.
const originHelp = "ORIGIN_URL is where a published directory is read from: an http:// or https:// base URL\n" +
	"(any static server, CDN or HTTP cache), or s3://BUCKET/PREFIX, read with signed requests and\n" +
	"the AWS credential chain (environment, shared config files, instance role)."

func commandUsage(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: piecefs %s [flags] %s\n\n%s.\n", c.name, c.args, upperFirst(c.summary))
	if strings.Contains(c.args, "ORIGIN_URL") {
		fmt.Fprintln(w, "\n"+originHelp)
	}
	fmt.Fprintln(w, "\nFlags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

func upperFirst(s string) string { return strings.ToUpper(s[:1]) + s[1:] }
