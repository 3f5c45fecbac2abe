package harness

import "regexp"

// The lines piecefs prints on stdout once it serves (cmd/piecefs/mount.go,
// cmd/piecefs/serve.go).
var (
	readyLine = regexp.MustCompile(`^mounted (sha256:[0-9a-f]{64}) at (.+)$`)
	serveLine = regexp.MustCompile(`^serving (.+) at (http://127\.0\.0\.1:[0-9]+)$`)
)

// ParseReadyLine splits the line `piecefs mount` prints once it serves,
// "mounted sha256:<hex> at <mountpoint>", into its digest and mountpoint.
func ParseReadyLine(line string) (digest, dir string, ok bool) {
	m := readyLine.FindStringSubmatch(line)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// ParseServeLine splits the line `piecefs serve` prints once it listens,
// "serving <dir> at http://127.0.0.1:<port>", into the directory and the
// base URL. An address other than 127.0.0.1 does not parse.
func ParseServeLine(line string) (dir, url string, ok bool) {
	m := serveLine.FindStringSubmatch(line)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}
