package origin

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/piecefs/piecefs/internal/durable"
)

// fileMode is the mode of every object: readable by a web server running as
// another user, which may serve the directory instead of Handler.
const fileMode = 0o644

// writeAtomic makes dir/name hold data, durably and all at once: a
// temporary file in dir is written, fsynced and closed, then renamed over
// name, and dir is fsynced so the rename survives a crash. On any failure
// the temporary file is removed and name is unchanged.
func writeAtomic(dir, name string, data []byte) (err error) {
	// The leading '.' keeps temporary names out of the layout, so they are
	// never served.
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	err = fill(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	return durable.SyncDir(dir)
}

func fill(f *os.File, data []byte) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(fileMode); err != nil {
		return err
	}
	return f.Sync()
}

// mkdirDurable makes sure directory dir exists; if it has to create it, it
// fsyncs the parent so the new entry survives a crash. The parent must
// exist.
func mkdirDurable(dir string) error {
	err := os.Mkdir(dir, 0o755)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return durable.SyncDir(filepath.Dir(dir))
}
