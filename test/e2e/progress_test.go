package e2e

import (
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What a person sees of a preheat on a terminal (progress bar) and of
// status.

var (
	// progressPercent is the bar's percentage.
	progressPercent = regexp.MustCompile(`preheat\s+([0-9]+)%`)
	// progressBytes is "(done/total MiB" or "(done KiB/total MiB".
	progressBytes = regexp.MustCompile(`\(\s*[0-9.]+( [KM]iB| B)?/[0-9.]+ MiB`)
	// progressRate is the rate.
	progressRate = regexp.MustCompile(`[0-9.]+ (B|KiB|MiB)/s`)
)

// TestPreheatProgressBar runs a preheat in tmux, 100 columns wide, against
// an origin slow enough that the bar is drawn several times, captures the
// screen as it goes, and checks what is on it: the description, a
// percentage, the bytes done of the total, a rate, and at the end the
// summary line. Without a terminal the same command draws no bar.
func TestPreheatProgressBar(t *testing.T) {
	requireTool(t, "tmux")
	origin := newPhOrigin(t, fx.out)
	m := startMount(t, origin.URL(), t.TempDir(), "--fetch-timeout", "30s")
	// sizes/: 9 pieces, 6 of them 1 MiB; one at a time, ~0.6 s each.
	origin.SetPace(10 * time.Millisecond)
	tm := startTmux(t, 100, 20, fx.bin, "preheat", "--jobs", "1", filepath.Join(m.dir, "sizes"))

	var frames []string // distinct bar lines, in order
	var screen string
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(screen, "exit status ") {
		if time.Now().After(deadline) {
			t.Fatalf("preheat in tmux still running after a minute; screen:\n%s", screen)
		}
		time.Sleep(50 * time.Millisecond)
		screen = tm.capture(t)
		for _, l := range strings.Split(screen, "\n") {
			if progressPercent.MatchString(l) && (len(frames) == 0 || frames[len(frames)-1] != l) {
				frames = append(frames, l)
			}
		}
	}
	t.Logf("%d distinct bar frames; last screen:\n%s", len(frames), screen)
	var percents []string
	for _, f := range frames {
		p := progressPercent.FindStringSubmatch(f)[1]
		if !slices.Contains(percents, p) {
			percents = append(percents, p)
		}
	}
	if len(percents) < 3 {
		t.Errorf("the bar showed %d percentages %v, want at least 3 as the preheat went: %q", len(percents), percents, frames)
	}
	midway := slices.IndexFunc(frames, func(f string) bool {
		p := progressPercent.FindStringSubmatch(f)[1]
		return p != "0" && p != "100" && progressBytes.MatchString(f) && progressRate.MatchString(f)
	})
	if midway < 0 {
		t.Errorf("no frame midway shows a percentage, bytes done of the total in MiB and a rate: %q", frames)
	} else {
		t.Logf("a frame midway: %q", strings.TrimRight(frames[midway], " "))
	}
	for _, f := range frames {
		if w := len([]rune(strings.TrimRight(f, " "))); w > 100 {
			t.Errorf("a bar line is %d columns wide on a 100-column terminal: %q", w, f)
		}
	}
	last := lines([]byte(strings.TrimRight(screen, "\n")))
	if !slices.ContainsFunc(last, func(l string) bool {
		p := progressPercent.FindStringSubmatch(l)
		return p != nil && p[1] == "100"
	}) {
		t.Errorf("the last screen has no bar at 100%%:\n%s", screen)
	}
	if !slices.ContainsFunc(last, func(l string) bool { return phSummaryLine.MatchString(l) }) {
		t.Errorf("the last screen has no summary line:\n%s", screen)
	}
	if !slices.Contains(last, "exit status 0") {
		t.Errorf("the preheat in tmux did not exit 0:\n%s", screen)
	}

	// Without a terminal: the summary on stdout, nothing on stderr.
	r := phMustRun(t, "preheat", filepath.Join(m.dir, "small", "a0")) // ~1.5 s at this pace
	if r.stderr != "" {
		t.Errorf("preheat without a terminal wrote on stderr (a bar?): %q", r.stderr)
	}
	if s := phParseSummary(t, r); s.fetched == "0 bytes" || len(lines([]byte(r.stdout))) != 1 {
		t.Errorf("preheat without a terminal: stdout %q, want one summary line of bytes fetched", r.stdout)
	}
	m.Stop(t)
}

// tmuxSession is a tmux server of the test's own (its own socket), with
// one session running a command.
type tmuxSession struct{ sock string }

// startTmux starts argv in a detached tmux session of width×height on a
// server of its own, which the test's end kills. The shell around argv
// prints "exit status N" when it ends and keeps the pane open.
func startTmux(t *testing.T, width, height int, argv ...string) *tmuxSession {
	t.Helper()
	s := &tmuxSession{sock: filepath.Join(t.TempDir(), "tmux.sock")}
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	script := strings.Join(quoted, " ") + `; echo "exit status $?"; sleep 600`
	// -u: the bar's blocks are UTF-8 whatever the locale; -f /dev/null: no
	// user configuration.
	mustRun(t, "", "tmux", "-u", "-f", "/dev/null", "-S", s.sock, "new-session", "-d", "-s", "preheat",
		"-x", strconv.Itoa(width), "-y", strconv.Itoa(height), "sh", "-c", script)
	t.Cleanup(func() { runTool(10*time.Second, "", "tmux", "-S", s.sock, "kill-server") })
	return s
}

// capture returns the visible screen of the session, a line wrapped at
// the right edge joined again (-J), so that a line too wide shows.
func (s *tmuxSession) capture(t *testing.T) string {
	t.Helper()
	return string(mustRun(t, "", "tmux", "-S", s.sock, "capture-pane", "-p", "-J", "-t", "preheat"))
}

// TestStatusOutput checks status as a person reads it, for a directory:
// a line per file with its size, bytes cached and pin, a total line, and
// the mount's tiers against their bounds; and --json, which must parse and
// carry the same, with the mount's numbers.
func TestStatusOutput(t *testing.T) {
	origin := newCountingOrigin(t, fx.out)
	m := startMount(t, origin.URL(), t.TempDir(), "--memory-cache", "64MiB", "--disk-cache", "512MiB")
	dir := filepath.Join(m.dir, "sizes")
	files := phFilesUnder("sizes")
	phMustRun(t, "preheat", filepath.Join(dir, "piece"))

	out := phMustRun(t, "status", dir).stdout
	t.Logf("piecefs status %s:\n%s", dir, out)
	ls := lines([]byte(out))
	lineOf := func(suffix string) string {
		t.Helper()
		i := slices.IndexFunc(ls, func(l string) bool { return strings.HasSuffix(l, suffix) })
		if i < 0 {
			t.Errorf("status %s: no line ending %q", dir, suffix)
			return ""
		}
		return ls[i]
	}
	for _, f := range files {
		lineOf(" " + filepath.Join(m.dir, f))
	}
	if f := strings.Fields(lineOf(" " + filepath.Join(dir, "piece"))); len(f) != 6 || f[0]+f[1] != "1.0MiB" || f[2]+f[3] != "1.0MiB" || f[4] != "no" {
		t.Errorf("status line of sizes/piece after its preheat: %q, want 1.0 MiB, 1.0 MiB cached, not pinned", f)
	}
	if f := strings.Fields(lineOf(" " + filepath.Join(dir, "3piece+17"))); len(f) != 6 || f[2]+f[3] != "0bytes" {
		t.Errorf("status line of sizes/3piece+17, never read: %q, want 0 bytes cached", f)
	}
	lineOf(" " + dir + " (total of " + strconv.Itoa(len(files)) + " files)")
	for _, want := range []string{"memory tier: ", "of 64.0 MiB", "disk tier: ", "of 512.0 MiB", fx.digest, origin.URL()} {
		if !strings.Contains(out, want) {
			t.Errorf("status %s does not say %q", dir, want)
		}
	}

	st := phStatusOf(t, dir)
	if len(st.Files) != len(files) || len(st.Dirs) != 1 || st.Dirs[0].Files != len(files) {
		t.Errorf("status --json: %d files and dirs %+v, want %d files and one total of them", len(st.Files), st.Dirs, len(files))
	}
	mt := st.Mount
	if mt.Memory.Limit != 64<<20 || mt.Disk.Limit != 512<<20 || mt.Memory.Bytes <= 0 || mt.Disk.Bytes < pieceSize || mt.Disk.Entries < 1 {
		t.Errorf("status --json mount tiers: memory %+v, disk %+v; want the bounds 64 MiB and 512 MiB and the preheated piece held", mt.Memory, mt.Disk)
	}
	if mt.Manifest != fx.digest || mt.Origin != origin.URL() || mt.Fetch.Pieces < 1 {
		t.Errorf("status --json mount: manifest %s, origin %s, %d pieces fetched; want %s, %s, at least 1", mt.Manifest, mt.Origin, mt.Fetch.Pieces, fx.digest, origin.URL())
	}
	m.Stop(t)
}
