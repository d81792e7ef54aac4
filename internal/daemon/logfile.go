package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/hashicorp/go-hclog"
)

func ParseLevel(name string) (hclog.Level, error) {
	level := hclog.LevelFromString(name)
	if level == hclog.NoLevel {
		return level, fmt.Errorf("--log-level %q: want trace, debug, info, warn or error", name)
	}
	return level, nil
}

// newLogger builds the one root logger; packages get named children of it.
func newLogger(out io.Writer, level hclog.Level, format string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "fcgi-wrap",
		Level:      level,
		Output:     out,
		JSONFormat: format == "json",
		// Color codes would end up in journald and log files.
		Color: hclog.ColorOff,
	})
}

// reopenFile is a log destination that logrotate can move away: Reopen
// (on SIGUSR1) starts a fresh file at the same path. Writes and reopens
// are serialized so a line never straddles two files.
type reopenFile struct {
	path    string
	mu      sync.Mutex
	f       *os.File
	created bool // fcgi-wrap made the file (it did not exist at start)
}

func openReopenFile(path string) (*reopenFile, error) {
	r := &reopenFile{path: path}
	_, err := os.Lstat(path)
	r.created = errors.Is(err, os.ErrNotExist)
	return r, r.Reopen()
}

func (r *reopenFile) Reopen() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	r.mu.Lock()
	old := r.f
	r.f = f
	r.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

// giveTo hands a file fcgi-wrap created to the user it is about to become.
// Left to root, the file could not be reopened after the privilege drop,
// and logrotate's "create", which copies the rotated file's owner, would
// make the next one root's too. A file the operator made keeps its owner.
func (r *reopenFile) giveTo(uid, gid int) error {
	if !r.created {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.f.Chown(uid, gid); err != nil {
		return fmt.Errorf("giving %s to uid %d: %w", r.path, uid, err)
	}
	return nil
}

// reopenAll reopens every log file after logrotate moved them. A file that
// cannot be reopened is not silent: the error goes to the log (still the
// moved-away file, if that is the one that failed) and to stderr, which
// systemd's journal or the terminal keeps, and the old file stays in use.
func reopenAll(files []*reopenFile, log hclog.Logger, stderr io.Writer) {
	for _, f := range files {
		if err := f.Reopen(); err != nil {
			hint := "the directory must be writable by fcgi-wrap's user, or logrotate must create the new file (its create directive)"
			log.Error("cannot reopen log file; still writing to the old one", "path", f.path, "error", err, "hint", hint)
			fmt.Fprintf(stderr, "fcgi-wrap: cannot reopen log file %s (%v); still writing to the old one: %s\n", f.path, err, hint)
			continue
		}
		log.Info("log file reopened", "path", f.path)
	}
}

func (r *reopenFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Write(p)
}

func (r *reopenFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Close()
}
