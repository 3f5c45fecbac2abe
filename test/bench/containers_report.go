package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// ctrReport prints the container mode's table, its notes and phases, and
// writes the JSON file when asked.
func (c *ctrBench) ctrReport(ctx context.Context, t *ctrTable, w io.Writer) error {
	notes := append(append(c.ctrMethodNotes(), rowNotes(t.rows())...), c.ctrInfoNotes()...)
	if fi, err := os.Stat(c.bin); err == nil {
		if n := t.warmNote(fi.Size()); n != "" {
			notes = append(notes, n)
		}
	}
	notes = append(notes, c.notes...)
	printCtrTable(w, t.rows())
	printNotesAndPhases(w, notes, c.phases)
	if c.cfg.jsonPath == "" {
		return nil
	}
	commit, dirty := gitState(ctx, c.root)
	rep := jsonReport{
		Time: time.Now().UTC(), Commit: commit, Dirty: dirty,
		Config: map[string]any{"mode": "containers", "runs": c.cfg.runs, "memoryCacheBytes": c.cfg.memoryCache,
			"rootfsDir": c.cfg.rootfsDir, "origin": c.origin.kind},
		Host:  hostInfo(),
		Tools: map[string]string{"nginx": c.tools.nginx, "runc": c.runc},
		Notes: notes, Phases: c.phases,
	}
	for _, r := range t.rows() {
		rep.Rows = append(rep.Rows, toJSON(r))
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(c.cfg.jsonPath, append(data, '\n'), 0o644)
}

// ctrMethodNotes say how the rows were measured.
func (c *ctrBench) ctrMethodNotes() []string {
	return []string{
		fmt.Sprintf("medians of %d run(s); ratio = piecefs / baseline; origin: %s on 127.0.0.1; piecefs --memory-cache %s, --prefetch-rate at its default",
			c.cfg.runs, c.origin.kind, formatSize(c.cfg.memoryCache)),
		fmt.Sprintf("image: `debootstrap %s` (cached in %s), one layer made with umoci, `piecefs import` with default settings",
			strings.Join(debootstrapArgs, " "), c.cfg.rootfsDir),
		fmt.Sprintf("start: `piecefs mount --bundle DIR ORIGIN MNT -- %s` started → its ready line, printed once the mount has written DIR/config.json → `runc run -b DIR` → the program's line on runc's stdout; the time is from starting the mount to that line. Local: the same config.json with its root the debootstrap tree, from starting runc to the line",
			strings.Join(ctrProgram[:2], " ")+" '…'"),
		"piecefs built as README.md builds it (`go build -trimpath -ldflags='-s -w'`, releaseFlags)",
		"cold: empty cache, new mount process, page cache dropped before it starts; warm: the cache a cold start of the same tag filled (the recording run), new mount process, page cache dropped; local: page cache dropped before runc starts",
		"prefetch list: a cold start of the image with `mount --record`, then `piecefs import --prefetch` of that list under a new tag, whose cold starts replay it in the background from before the ready line (once the manifest is decoded)",
		fmt.Sprintf("origin bytes: separate runs through a TCP relay that counts what the origin sends (headers included), from the mount's start until the origin has been quiet for %v after the container exited, so what a prefetch fetches after the output counts; the bytes the start reads: the recorded list's lengths", fetchedQuiet),
	}
}

// ctrInfoNotes say what the start read and what the prefetch did.
func (c *ctrBench) ctrInfoNotes() []string {
	i := c.info
	notes := []string{
		fmt.Sprintf("the image: %d entries, %d pieces, %.1f MiB of pieces, a manifest of %.2f MiB; the start read %.1f MiB (%.1f%% of the pieces) in %d ranges of %d files; the program printed %q",
			i.entries, i.pieces, mib(i.imageBytes), mib(i.manifest), mib(i.readBytes), 100*float64(i.readBytes)/float64(max(i.imageBytes, 1)), i.readRanges, i.readFiles, i.outputLine),
	}
	if n := prefetchNote(i.prefetch); n != "" {
		notes = append(notes, n)
	}
	return notes
}

// prefetchNote sums up what the mounts of the prefetch runs logged of
// their prefetch.
func prefetchNote(runs []prefetchRun) string {
	if len(runs) == 0 {
		return ""
	}
	var secs, mibs, fetches []float64
	stopped := 0
	for _, p := range runs {
		secs, mibs, fetches = append(secs, p.seconds), append(mibs, mib(p.fetched)), append(fetches, float64(p.fetches))
		if !p.done {
			stopped++
		}
	}
	return fmt.Sprintf("the prefetch, from the mounts' logs (medians of %d): %.1f MiB in %.0f fetches, done %.3f s after it started (%.3f–%.3f s); %d stopped before the end of the list",
		len(runs), median(mibs), median(fetches), median(secs), slices.Min(secs), slices.Max(secs), stopped)
}
