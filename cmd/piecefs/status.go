package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/piecefs/piecefs/meta"
	"github.com/piecefs/piecefs/store"
)

// fileStatus is one file of a status answer.
type fileStatus struct {
	Path   string `json:"path"` // in the tree, "/a/b"
	Size   int64  `json:"size"`
	Cached int64  `json:"cached"` // bytes held verified on disk
	Pinned bool   `json:"pinned"` // every piece of it is pinned
}

// dirTotal sums the files at or under one directory that status was asked
// about.
type dirTotal struct {
	Path        string `json:"path"`
	Files       int    `json:"files"`
	Size        int64  `json:"size"`
	Cached      int64  `json:"cached"`
	PinnedFiles int    `json:"pinnedFiles"`
}

// tierStatus is a cache tier's use against its bound (0: unbounded).
type tierStatus struct {
	Bytes   int64 `json:"bytes"`
	Limit   int64 `json:"limit"`
	Entries int   `json:"entries"`
}

// mountStatus is what a mount says of itself beside its files.
type mountStatus struct {
	Mountpoint string     `json:"mountpoint"`
	Manifest   string     `json:"manifest"`
	Origin     string     `json:"origin"`
	Memory     tierStatus `json:"memory"`
	Disk       struct {
		tierStatus
		Partial      int   `json:"partial"`
		PinnedBytes  int64 `json:"pinnedBytes"`
		PinnedPieces int   `json:"pinnedPieces"`
		Pins         int   `json:"pins"`
		Evictions    int64 `json:"evictions"`
	} `json:"disk"`
	Fetch struct {
		Pieces         int64 `json:"pieces"`
		Ranges         int64 `json:"ranges"`
		Bytes          int64 `json:"bytes"`
		Requests       int64 `json:"requests"`
		Retries        int64 `json:"retries"`
		VerifyFailures int64 `json:"verifyFailures"`
		InFlight       int64 `json:"inFlight"`
		Failovers      int64 `json:"failovers"`
	} `json:"fetch"`
	// Origins are the origin and its mirrors, in the order of preference.
	Origins []originStatus `json:"origins"`
}

// originStatus is what the mount has counted of one origin or mirror.
type originStatus struct {
	URL      string `json:"url"`
	Requests int64  `json:"requests"`
	Bytes    int64  `json:"bytes"`
	Failures int64  `json:"failures"`
	Up       bool   `json:"up"` // not benched: the next fetch may go to it
}

// statusReply answers `piecefs status`.
type statusReply struct {
	Files []fileStatus `json:"files"`
	Dirs  []dirTotal   `json:"dirs,omitempty"`
	Mount mountStatus  `json:"mount"`
}

// setDisk fills the disk part from the store's numbers.
func (s *mountStatus) setDisk(st store.Stats) {
	d := &s.Disk
	d.Bytes, d.Limit, d.Entries = st.Bytes, st.MaxBytes, st.Pieces
	d.Partial, d.PinnedBytes, d.PinnedPieces, d.Pins, d.Evictions = st.Partial, st.PinnedBytes, st.PinnedPieces, st.Pins, st.Evictions
}

// filesStatus answers for the files at or under each path: one line per
// file, and a total per directory.
func (env preheatEnv) filesStatus(ctx context.Context, paths []string) ([]fileStatus, []dirTotal, error) {
	info := entryInfo{m: env.m, disk: env.store}
	var files []fileStatus
	var dirs []dirTotal
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		mp, err := manifestPath(p)
		if err != nil {
			return nil, nil, err
		}
		i, ok := env.m.Lookup(mp)
		if !ok {
			return nil, nil, fmt.Errorf("%s: no such file or directory in the tree", pinPath(mp))
		}
		sel, err := selectFiles(env.m, []string{p})
		if err != nil {
			return nil, nil, err
		}
		isDir := env.m.Entries[i].Kind == meta.KindDir
		total := dirTotal{Path: pinPath(mp)}
		if total.Path == "" {
			total.Path = "/"
		}
		for _, f := range sel {
			fs := fileStatus{Path: pinPath(f.Path), Size: f.Entry.Size, Cached: info.Cached(f.Entry), Pinned: info.Pinned(f.Entry)}
			files = append(files, fs)
			total.Files++
			total.Size += fs.Size
			total.Cached += fs.Cached
			if fs.Pinned {
				total.PinnedFiles++
			}
		}
		if isDir {
			dirs = append(dirs, total)
		}
	}
	return files, dirs, nil
}

func setupStatus(fs *flag.FlagSet) func([]string) error {
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	return func(args []string) error {
		if len(args) == 0 {
			return usageError{"status needs at least one PATH inside a piecefs mount"}
		}
		ctx, stop := signalContext()
		defer stop()
		mnt, rel, err := findMountOf(args)
		if err != nil {
			return err
		}
		var rep statusReply
		if err := mnt.call(ctx, pathStatus, statusRequest{Paths: rel}, &rep); err != nil {
			return err
		}
		if *asJSON {
			return writeIndentedJSON(os.Stdout, rep)
		}
		printStatus(os.Stdout, mnt.dir, rep)
		return nil
	}
}

// printStatus writes the human form of a status answer: a table of files
// and directory totals, then the mount's tiers and counters.
func printStatus(w io.Writer, mountpoint string, rep statusReply) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SIZE\tCACHED\tPINNED\t PATH")
	for _, f := range rep.Files {
		fmt.Fprintf(tw, "%s\t%s\t%s\t %s\n", formatBytes(f.Size), formatBytes(f.Cached), yesNo(f.Pinned), mountpoint+f.Path)
	}
	for _, d := range rep.Dirs {
		path := mountpoint + d.Path
		if d.Path == "/" {
			path = mountpoint + "/"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t %s (total of %d files)\n", formatBytes(d.Size), formatBytes(d.Cached), d.PinnedFiles, d.Files, path, d.Files)
	}
	tw.Flush()
	m := rep.Mount
	fmt.Fprintf(w, "mount %s: manifest %s, origin %s\n", m.Mountpoint, m.Manifest, m.Origin)
	fmt.Fprintf(w, "  memory tier: %s of %s (%s)\n", formatBytes(m.Memory.Bytes), boundText(m.Memory.Limit, "off"), plural(m.Memory.Entries, "entry"))
	fmt.Fprintf(w, "  disk tier:   %s of %s (%s, %d partial; %s pinned in %s by %s; %s)\n",
		formatBytes(m.Disk.Bytes), boundText(m.Disk.Limit, "unbounded"), plural(m.Disk.Entries, "piece"), m.Disk.Partial,
		formatBytes(m.Disk.PinnedBytes), plural(m.Disk.PinnedPieces, "piece"), plural(m.Disk.Pins, "pin"), plural(int(m.Disk.Evictions), "eviction"))
	f := m.Fetch
	fmt.Fprintf(w, "  fetched:     %d pieces and %d block ranges, %s from the origin in %d requests (%d retries, %d in flight); verification failures: %d\n",
		f.Pieces, f.Ranges, formatBytes(f.Bytes), f.Requests, f.Retries, f.InFlight, f.VerifyFailures)
	if len(m.Origins) > 1 {
		fmt.Fprintf(w, "  origins:     %d failovers\n", f.Failovers)
		for _, o := range m.Origins {
			state := "up"
			if !o.Up {
				state = "benched after failures"
			}
			fmt.Fprintf(w, "    %s: %s in %d requests, %d failures, %s\n", o.URL, formatBytes(o.Bytes), o.Requests, o.Failures, state)
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func boundText(n int64, zero string) string {
	if n == 0 {
		return zero
	}
	return formatBytes(n)
}

func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
