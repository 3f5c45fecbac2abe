package store

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"
	bolt "go.etcd.io/bbolt"

	"github.com/piecefs/piecefs/meta"
)

// area is one kind of object the cache directory holds: its directories,
// how its file names map to digests, and the bucket that records it.
type area struct {
	bucket string
	dirs   func() ([]string, error)
	// parse returns the digest named by the file name in directory dir
	// (the directory's base name), or false for a name the store does not
	// write.
	parse func(dir, name string) (meta.Digest, bool)
	// partials says the directories hold partial files, <name>.blocks,
	// too (see "Partial pieces").
	partials bool
	// path returns the file of the object with digest d.
	path func(d meta.Digest) string
}

func (s *Store) pieceArea() area {
	return area{bucket: BucketPieces, dirs: s.pieceDirs, parse: parsePieceName, partials: true, path: s.piecePath}
}

// pieceDirs returns pieces/ and its fan-out directories.
func (s *Store) pieceDirs() ([]string, error) {
	top := filepath.Join(s.dir, piecesDir)
	entries, err := os.ReadDir(top)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", top, err)
	}
	dirs := []string{top}
	for _, e := range entries {
		if _, err := hex.DecodeString(e.Name()); e.IsDir() && len(e.Name()) == 2 && err == nil {
			dirs = append(dirs, filepath.Join(top, e.Name()))
		}
	}
	return dirs, nil
}

func parsePieceName(dir, name string) (meta.Digest, bool) {
	d, err := meta.ParseHex(name)
	return d, err == nil && name[:2] == dir
}

func (s *Store) manifestArea() area {
	dirs := func() ([]string, error) { return []string{filepath.Join(s.dir, manifestsDir)}, nil }
	return area{bucket: BucketManifests, dirs: dirs, parse: parseManifestName, path: s.manifestPath}
}

func parseManifestName(_, name string) (meta.Digest, bool) {
	h, ok := strings.CutSuffix(name, jsonSuffix)
	d, err := meta.ParseHex(h)
	return d, ok && err == nil
}

// found is a file named by a digest, found on disk; or, from the records
// of a directory closed cleanly, with no path (the area's path names it:
// most such files are never removed, and making a path costs more than
// reading the record).
type found struct {
	path string
	size int64
}

// scanned is what a scan of an area's directories found.
type scanned struct {
	files    map[meta.Digest]found // named by a digest
	partials map[meta.Digest]found // partial files, <digest name>.blocks
}

// tally counts what reconciling an area did, for the log.
type tally struct {
	parts      int // temporary files removed
	stray      int // files with names the store does not write, removed
	kept       int // records whose file is present with the recorded size
	dropped    int // records deleted: file missing, of another size, or record malformed
	unrecorded int // files removed for lacking a kept record
	finished   int // partial pieces recorded complete: completions a crash interrupted (see finishCompletions)
}

// reconcile brings disk and database into agreement (see "Crash safety"
// and "Partial pieces") and loads the index of complete and partial pieces.
// fresh says the database was started empty at this Open.
func (s *Store) reconcile(fresh bool) error {
	pa := s.pieceArea()
	var t tally
	sc, err := s.scan(pa, &t)
	if err != nil {
		return err
	}
	// Before the piece files without a record go: some may be
	// completions a crash interrupted, which are recorded now.
	finished, err := s.finishCompletions(sc)
	if err != nil {
		return err
	}
	complete, err := s.settleArea(pa, sc, t, fresh)
	if err != nil {
		return err
	}
	partials, err := s.reconcilePartials(complete, sc.partials, fresh, finished)
	if err != nil {
		return err
	}
	if _, err := s.reconcileArea(s.manifestArea(), fresh); err != nil {
		return err
	}
	kept := make(map[meta.Digest]bool, len(complete)+len(partials))
	for d := range complete {
		kept[d] = true
	}
	for d := range partials {
		kept[d] = true
	}
	atimes, err := s.loadAtimes(kept)
	if err != nil {
		return err
	}
	if err := s.pruneSums(complete); err != nil {
		return err
	}
	// Pins are intents: those of pieces not held are kept.
	pins, err := s.loadPins()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.index = loadIndex(complete, partials, atimes)
	s.index.pins = pins
	return nil
}

// reconcileArea scans the directories of a and settles them with their
// records (see settleArea).
func (s *Store) reconcileArea(a area, fresh bool) (map[meta.Digest]int64, error) {
	var t tally
	sc, err := s.scan(a, &t)
	if err != nil {
		return nil, err
	}
	return s.settleArea(a, sc, t, fresh)
}

// settleArea returns the sizes of the objects of a that remain recorded,
// given the files the scan sc found (and what it did, t): it drops the
// records whose file is missing or of another size, and removes the files
// without a record. The partial files sc found are left to
// reconcilePartials. Records are deleted before files are removed, so a
// crash in between leaves only files without records, which the next Open
// removes.
func (s *Store) settleArea(a area, sc scanned, t tally, fresh bool) (map[meta.Digest]int64, error) {
	onDisk := sc.files
	var kept map[meta.Digest]int64
	var bad []DroppedError
	err := s.db.View(func(tx *bolt.Tx) (err error) {
		kept, bad, err = matchRecords(tx.Bucket([]byte(a.bucket)), onDisk)
		return err
	})
	if err == nil && len(bad) > 0 {
		// Written only when there is something to delete: every write
		// transaction costs Open an fsync. No one else writes meanwhile;
		// the store holds the database's lock.
		keys := make([][]byte, len(bad))
		for i, b := range bad {
			keys[i] = b.key
		}
		err = s.db.Update(deleteKeys(a.bucket, keys))
	}
	if a.bucket == BucketPieces {
		s.openDrops = bad
	}
	t.kept, t.dropped = len(kept), len(bad)
	if err != nil {
		return nil, fmt.Errorf("check %s records: %w", a.bucket, err)
	}
	for d, f := range onDisk {
		s.remove(cmp.Or(f.path, a.path(d)))
		t.unrecorded++
	}
	s.logTally(a.bucket, t)
	if fresh && t.unrecorded > 0 {
		s.logFresh(a.bucket, t.unrecorded)
	}
	return kept, nil
}

// logTally reports a reconcile at Info when it had to repair something (a
// crash or damage happened, and an operator may want to know), else at Debug.
func (s *Store) logTally(kind string, t tally) {
	level := logrus.DebugLevel
	if t.dropped+t.unrecorded+t.parts+t.stray+t.finished > 0 {
		level = logrus.InfoLevel
	}
	s.log.WithFields(logrus.Fields{
		"kind":                 kind,
		"kept":                 t.kept,
		"records_dropped":      t.dropped,
		"unrecorded_removed":   t.unrecorded,
		"parts_removed":        t.parts,
		"stray_removed":        t.stray,
		"completions_finished": t.finished,
	}).Log(level, "reconciled cache directory")
}

// scan removes temporary and stray files in the directories of a and
// returns the files named by a digest, and the partial files.
func (s *Store) scan(a area, t *tally) (scanned, error) {
	if s.trusted {
		return s.recordedScan(a)
	}
	sc := scanned{files: make(map[meta.Digest]found), partials: make(map[meta.Digest]found)}
	dirs, err := a.dirs()
	if err != nil {
		return sc, err
	}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return sc, fmt.Errorf("scan %s: %w", dir, err)
		}
		for _, e := range entries {
			if err := s.scanEntry(a, dir, e, sc, t); err != nil {
				return sc, fmt.Errorf("scan %s: %w", dir, err)
			}
		}
	}
	return sc, nil
}

func (s *Store) scanEntry(a area, dir string, e fs.DirEntry, sc scanned, t *tally) error {
	if !e.Type().IsRegular() {
		return nil // the fan-out directories, and nothing the store writes
	}
	name := filepath.Join(dir, e.Name())
	if strings.HasSuffix(e.Name(), partSuffix) {
		s.remove(name)
		t.parts++
		return nil
	}
	into := sc.files
	base, partial := strings.CutSuffix(e.Name(), blocksSuffix)
	if partial && a.partials {
		into = sc.partials
	} else {
		base = e.Name()
	}
	d, ok := a.parse(filepath.Base(dir), base)
	if !ok {
		s.remove(name)
		t.stray++
		return nil
	}
	info, err := e.Info()
	if err != nil {
		return err
	}
	into[d] = found{path: name, size: info.Size()}
	return nil
}

// matchRecords returns the sizes of the records of b whose file is in
// onDisk with the recorded size, and the keys of the other records. The
// files of kept records are taken out of onDisk, so what remains there
// lacks a record.
func matchRecords(b *bolt.Bucket, onDisk map[meta.Digest]found) (map[meta.Digest]int64, []DroppedError, error) {
	kept := make(map[meta.Digest]int64)
	var bad []DroppedError
	err := b.ForEach(func(k, v []byte) error {
		d, size, ok := parseRecord(k, v)
		f, present := onDisk[d]
		if ok && present && f.size == size {
			kept[d] = size
			delete(onDisk, d)
			return nil
		}
		why := errMalformed
		switch {
		case ok && !present:
			why = fs.ErrNotExist
		case ok:
			why = fmt.Errorf("file holds %d bytes, the record says %d", f.size, size)
		}
		// The key is copied out of the transaction.
		bad = append(bad, DroppedError{Digest: d, Size: size, Err: why, key: bytes.Clone(k)})
		return nil
	})
	return kept, bad, err
}

// errMalformed is why a record that does not decode is dropped.
var errMalformed = errors.New("malformed record")

// parseRecord decodes a record of bucket pieces or manifests; ok is false if
// it is malformed.
func parseRecord(k, v []byte) (d meta.Digest, size int64, ok bool) {
	if len(k) != len(d) {
		return d, 0, false
	}
	size, ok = decodeSize(v)
	return meta.Digest(k), size, ok
}
