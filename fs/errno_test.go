package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

func TestToErrno(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want syscall.Errno
	}{
		{"cancelled", context.Canceled, syscall.EINTR},
		{"wrapped cancel", fmt.Errorf("fetch piece: %w", context.Canceled), syscall.EINTR},
		{"deadline", fmt.Errorf("fetch piece: %w", context.DeadlineExceeded), syscall.EIO},
		{"not exist", fmt.Errorf("open piece: %w", iofs.ErrNotExist), syscall.ENOENT},
		{"ENOENT errno", fmt.Errorf("open: %w", syscall.ENOENT), syscall.ENOENT},
		{"unexpected EOF", io.ErrUnexpectedEOF, syscall.EIO},
		{"anything else", errors.New("checksum mismatch"), syscall.EIO},
		// Text never decides: this only says "canceled".
		{"text is not a type", errors.New("context canceled"), syscall.EIO},
	}
	for _, tc := range tests {
		if got := toErrno(tc.err); got != tc.want {
			t.Errorf("%s: toErrno(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestReadErrorsAreLoggedOnce(t *testing.T) {
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	_, root := newTestTree(t, Options{Log: log})

	if _, errno := read(t, walk(t, root, "broken.bin"), 3, 100); errno != syscall.EIO {
		t.Fatalf("broken.bin: errno %v, want EIO", errno)
	}
	entries := hook.AllEntries()
	if len(entries) != 1 {
		t.Fatalf("%d log entries, want 1", len(entries))
	}
	e := entries[0]
	if e.Level != logrus.ErrorLevel {
		t.Errorf("level %v, want error", e.Level)
	}
	want := logrus.Fields{"op": "read", "path": "broken.bin", "offset": int64(3), logrus.ErrorKey: errUnavailable}
	for k, v := range want {
		if e.Data[k] != v {
			t.Errorf("field %s = %v, want %v", k, e.Data[k], v)
		}
	}

	hook.Reset()
	if _, errno := read(t, walk(t, root, "short.bin"), 0, 100); errno != syscall.EIO {
		t.Errorf("short.bin: errno %v, want EIO", errno)
	}
	if got := hook.LastEntry(); got == nil || got.Level != logrus.ErrorLevel {
		t.Errorf("short read: last log entry %v, want an error", got)
	}
}

func TestCancelledReadIsEINTR(t *testing.T) {
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	_, root := newTestTree(t, Options{Log: log})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, errno := readCtx(t, ctx, walk(t, root, "hello.txt"), 0, 10); errno != syscall.EINTR {
		t.Errorf("errno %v, want EINTR", errno)
	}
	for _, e := range hook.AllEntries() {
		if e.Level <= logrus.WarnLevel {
			t.Errorf("an interruption was logged at %v: %q", e.Level, e.Message)
		}
	}
}
