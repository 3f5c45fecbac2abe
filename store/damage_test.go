package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"

	"github.com/piecefs/piecefs/meta"
)

// seedMany seeds n small pieces: enough records that bucket pieces has
// pages of its own rather than living inline in its parent's page.
func seedMany(t *testing.T, dir string, n int) []meta.Digest {
	t.Helper()
	var datas [][]byte
	for i := range n {
		datas = append(datas, content(i, 10))
	}
	return seed(t, dir, datas)
}

// checkFreshStart checks what Open must make of a cache whose database was
// lost: an empty database, no piece files, a warning with their count, and
// a store that works.
func checkFreshStart(t *testing.T, s *Store, hook *logtest.Hook, ds []meta.Digest) {
	t.Helper()
	for _, d := range ds {
		if s.Has(d) {
			t.Fatalf("Has(%s) = true for a piece the lost database recorded", d)
		}
	}
	if got := files(t, s.Dir(), piecesDir); len(got) != 0 {
		t.Errorf("files under pieces/ = %v, want none", got)
	}
	if got := logged(hook, logrus.WarnLevel, "files_removed", len(ds)); len(got) != 1 {
		t.Errorf("warnings with files_removed=%d: %d, want 1; log: %v", len(ds), len(got), hook.AllEntries())
	}
	data := content(999, 100)
	checkComplete(t, s, putT(t, s, data), data)
}

func TestDatabaseMissing(t *testing.T) {
	tests := []struct {
		name   string
		damage func(name string) error
	}{
		{"deleted", os.Remove},
		{"truncated to zero", func(name string) error { return os.Truncate(name, 0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ds := seedMany(t, dir, 5)
			if err := tc.damage(filepath.Join(dir, DBName)); err != nil {
				t.Fatal(err)
			}
			log, hook := logtest.NewNullLogger()
			s := openT(t, dir, Options{Log: log})
			checkFreshStart(t, s, hook, ds)
			if aside, _ := filepath.Glob(filepath.Join(dir, DBName+".corrupt-*")); len(aside) != 0 {
				t.Errorf("moved aside %v, want nothing (there was no database to keep)", aside)
			}
		})
	}
}

// TestDatabaseCorrupt damages the database in the ways a disk or a person
// can: Open must neither fail nor panic, must move the file aside and say
// so, and must start afresh.
func TestDatabaseCorrupt(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, name string)
	}{
		{"garbage", func(t *testing.T, name string) {
			writeWhole(t, name, []byte(strings.Repeat("not a bbolt database ", 2000)))
		}},
		{"truncated to half its pages", func(t *testing.T, name string) { truncatePages(t, name, func(n int64) int64 { return n / 2 }) }},
		{"truncated by one page", func(t *testing.T, name string) { truncatePages(t, name, func(n int64) int64 { return n - 1 }) }},
		{"truncated to one page", func(t *testing.T, name string) { truncatePages(t, name, func(int64) int64 { return 1 }) }},
		{"truncated to two pages", func(t *testing.T, name string) { truncatePages(t, name, func(int64) int64 { return 2 }) }},
		{"truncated to three pages", func(t *testing.T, name string) { truncatePages(t, name, func(int64) int64 { return 3 }) }},
		{"flipped page id", func(t *testing.T, name string) { flipInBucketRoot(t, name, 0) }},
		{"flipped page type", func(t *testing.T, name string) { flipInBucketRoot(t, name, 8) }},
		{"flipped element count", func(t *testing.T, name string) { flipInBucketRoot(t, name, 11) }},
		{"keys out of order", firstKeyLast},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ds := seedMany(t, dir, 60)
			tc.damage(t, filepath.Join(dir, DBName))
			log, hook := logtest.NewNullLogger()
			now := time.Unix(1_700_000_000, 0)
			s := openT(t, dir, Options{Log: log, clock: func() time.Time { return now }})
			aside := filepath.Join(dir, DBName+".corrupt-1700000000")
			if _, err := os.Stat(aside); err != nil {
				t.Errorf("damaged database not moved aside: %v", err)
			}
			got := logged(hook, logrus.ErrorLevel, "moved_to", aside)
			if len(got) != 1 {
				t.Fatalf("errors naming %s: %d, want 1; log: %v", aside, len(got), hook.AllEntries())
			}
			t.Logf("logged: %s: %v", got[0].Message, got[0].Data[logrus.ErrorKey])
			checkFreshStart(t, s, hook, ds)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			openT(t, dir, Options{}) // the fresh database opens again
		})
	}
}

func writeWhole(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// truncatePages truncates the database name to keep(n) pages, where n is
// the number of pages its last transaction uses.
func truncatePages(t *testing.T, name string, keep func(n int64) int64) {
	t.Helper()
	var pages, pageSize int64
	inspect(t, name, func(db *bolt.DB, tx *bolt.Tx) error {
		pageSize = int64(db.Info().PageSize)
		pages = tx.Size() / pageSize
		return nil
	})
	if err := os.Truncate(name, keep(pages)*pageSize); err != nil {
		t.Fatal(err)
	}
}

// inspect runs fn in a read-only transaction on the database name.
func inspect(t *testing.T, name string, fn func(*bolt.DB, *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(name, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error { return fn(db, tx) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// flipInBucketRoot flips the byte at off in the page header of the root
// page of bucket pieces (id at 0, type flags at 8, element count at 10 and
// 11, little-endian). These are damage tx.Check finds; a flipped byte in a
// key or value leaves a valid database with a wrong record, which the
// reconcile handles (see TestReconcile).
func flipInBucketRoot(t *testing.T, name string, off int64) {
	t.Helper()
	var pos int64
	inspect(t, name, func(db *bolt.DB, tx *bolt.Tx) error {
		root := tx.Bucket([]byte(BucketPieces)).RootPage()
		if root == 0 {
			return errors.New("bucket pieces is inline; seed more records")
		}
		pos = int64(root)*int64(db.Info().PageSize) + off
		return nil
	})
	flipByte(t, name, pos)
}

// firstKeyLast overwrites the first byte of the first key in the root page
// of bucket pieces, a leaf, with 0xff: the structure stays valid and only
// tx.Check's key order check notices.
func firstKeyLast(t *testing.T, name string) {
	t.Helper()
	var page int64
	inspect(t, name, func(db *bolt.DB, tx *bolt.Tx) error {
		root := tx.Bucket([]byte(BucketPieces)).RootPage()
		if info, err := tx.Page(int(root)); err != nil || info == nil || info.Type != "leaf" {
			return fmt.Errorf("root page %d of bucket pieces is %+v, %v; want a leaf", root, info, err)
		}
		page = int64(root) * int64(db.Info().PageSize)
		return nil
	})
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The page header is 16 bytes; the first element's header follows,
	// with the key's offset from it at bytes 4..8.
	var pos [4]byte
	if _, err := f.ReadAt(pos[:], page+16+4); err != nil {
		t.Fatal(err)
	}
	key := page + 16 + int64(binary.LittleEndian.Uint32(pos[:]))
	if _, err := f.WriteAt([]byte{0xff}, key); err != nil {
		t.Fatal(err)
	}
}

// mountT mounts, as root, and unmounts when the test ends. Without the
// privilege it skips, or fails with CI=true.
func mountT(t *testing.T, source, target, fstype string, flags uintptr, data string) {
	t.Helper()
	if err := unix.Mount(source, target, fstype, flags, data); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount %s on %s: %v", fstype, target, err)
		}
		t.Skipf("mount %s on %s: %v", fstype, target, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(target, 0); err != nil {
			t.Errorf("unmount %s: %v", target, err)
		}
	})
}

// readOnlyT makes dir read-only with a read-only bind mount of itself, which
// stops root too.
func readOnlyT(t *testing.T, dir string) {
	t.Helper()
	mountT(t, dir, dir, "", unix.MS_BIND, "")
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
}

func TestUnusableDirectory(t *testing.T) {
	tests := []struct {
		name  string
		dir   func(t *testing.T) string
		cause error
	}{
		{"a file", func(t *testing.T) string {
			name := filepath.Join(t.TempDir(), "cache")
			writeWhole(t, name, []byte("x"))
			return name
		}, syscall.ENOTDIR},
		{"under a file", func(t *testing.T) string {
			name := filepath.Join(t.TempDir(), "file")
			writeWhole(t, name, []byte("x"))
			return filepath.Join(name, "cache")
		}, syscall.ENOTDIR},
		{"under /proc", func(*testing.T) string { return "/proc/piecefs-store-test/cache" }, syscall.ENOENT},
		{"read-only, empty", func(t *testing.T) string {
			dir := t.TempDir()
			readOnlyT(t, dir)
			return dir
		}, syscall.EROFS},
		{"read-only, with a cache", func(t *testing.T) string {
			dir := t.TempDir()
			seedMany(t, dir, 3)
			readOnlyT(t, dir)
			return dir
		}, syscall.EROFS},
		{"mode 0500", func(t *testing.T) string {
			if os.Geteuid() == 0 {
				t.Skip("root writes through mode 0500; the read-only cases cover root")
			}
			dir := t.TempDir()
			if err := os.Chmod(dir, 0o500); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
			return dir
		}, syscall.EACCES},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			fds := countFDs(t)
			s, err := Open(dir, Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded, want an error", dir)
			}
			if s != nil {
				t.Error("Open returned a store with its error")
			}
			if !errors.Is(err, tc.cause) {
				t.Errorf("Open error %q does not wrap %v", err, tc.cause)
			}
			for _, want := range []string{dir, "not usable", "choose another cache directory"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Open error %q does not contain %q", err, want)
				}
			}
			if got := countFDs(t); got != fds {
				t.Errorf("open files after a failed Open = %d, want %d", got, fds)
			}
			if aside, _ := filepath.Glob(filepath.Join(dir, DBName+".corrupt-*")); len(aside) != 0 {
				t.Errorf("moved aside %v: an unwritable database is not a damaged one", aside)
			}
		})
	}
}

// TestDiskFull puts a piece larger than the file system it is written to.
func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	mountT(t, "tmpfs", dir, "tmpfs", 0, "size=1m")
	s := openT(t, dir, Options{})
	big := content(1, 2<<20)
	d := meta.Sum(big)
	if err := s.Put(d, big); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put of 2 MiB into 1 MiB = %v, want an error wrapping ENOSPC", err)
	}
	checkAbsent(t, s, d)
	small := content(2, 100<<10)
	checkComplete(t, s, putT(t, s, small), small)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, openT(t, dir, Options{}), meta.Sum(small), small)
}
