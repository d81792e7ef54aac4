package daemon

import (
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

// NewLogger builds the one root logger; packages get named children of it.
func NewLogger(out io.Writer, level hclog.Level, format string) hclog.Logger {
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
	path string
	mu   sync.Mutex
	f    *os.File
}

func openReopenFile(path string) (*reopenFile, error) {
	r := &reopenFile{path: path}
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
