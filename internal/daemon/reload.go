package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// reload applies a changed configuration to new requests. Running
// requests keep the settings they started with; connections stay open.
// automatic says the file watcher asked, not the operator: such a reload
// never loosens confinement, since an editor's half-written file looks
// exactly like a deliberate change.
func (d *daemon) reload(why string, automatic bool) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	next, err := d.opts.Reload()
	if err != nil {
		d.log.Error("configuration rejected; keeping the old settings", "trigger", why, "error", err)
		return
	}
	if automatic {
		if loose := loosened(&d.live, &next.Live); len(loose) > 0 {
			d.log.Error("configuration change would loosen confinement; not applied: send SIGHUP (systemctl reload) to apply it",
				"trigger", why, "settings", strings.Join(loose, ","))
			return
		}
	}
	for _, name := range restartOnly(&d.startup, &next.Startup) {
		d.log.Warn("setting changed but needs a restart to apply", "setting", name)
	}
	// A fixed script cannot be changed by the file either way.
	next.Live.Gateway.Resolve.FixedScript = d.live.Gateway.Resolve.FixedScript
	if err := d.allow.set(next.Live.AllowFrom); err != nil {
		d.log.Error("configuration rejected; keeping the old settings", "trigger", why, "error", err)
		return
	}
	level, _ := ParseLevel(next.Live.LogLevel)
	d.log.SetLevel(level)
	d.pool.Reconfigure(next.Live.Pool)
	gs := next.Live.Gateway
	d.gateway.SetSettings(&gs)
	d.live = next.Live
	d.log.Info("configuration reloaded", "trigger", why, "workers", next.Live.Pool.Workers, "queue", next.Live.Pool.Queue)
}

// configSettle is how long the config file must be quiet before a change
// is applied: it collapses the burst of events an editor's save makes
// (write temp, rename over, chmod), and lets a writer that writes a file
// in several pieces finish first.
const configSettle = 500 * time.Millisecond

// watchConfig reloads when the config file changes on disk. It watches the
// directory, not the file: editors and config managers replace files by
// renaming a new one over them, which a watch on the old inode misses.
func (d *daemon) watchConfig() (stop func()) {
	if d.opts.ConfigPath == "" {
		return func() {}
	}
	path, err := filepath.Abs(d.opts.ConfigPath)
	if err != nil {
		d.log.Warn("not watching the config file", "error", err)
		return func() {}
	}
	w, err := fsnotify.NewWatcher()
	if err == nil {
		err = w.Add(filepath.Dir(path))
	}
	if err != nil {
		d.log.Warn("not watching the config file; reload with SIGHUP", "error", err)
		if w != nil {
			w.Close()
		}
		return func() {}
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.watchLoop(w, path, quit)
	}()
	return func() {
		close(quit)
		w.Close()
		<-done
	}
}

// watchLoop reloads once path has been quiet for configSettle after a
// change, until quit closes or the watcher fails.
func (d *daemon) watchLoop(w *fsnotify.Watcher, path string, quit <-chan struct{}) {
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if filepath.Clean(ev.Name) != path || ev.Op == fsnotify.Chmod {
				continue
			}
			settle.Reset(configSettle)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			d.log.Warn("config watch error", "error", err)
		case <-settle.C:
			if _, err := os.Stat(path); err != nil {
				// Removed, or between an editor's unlink and its
				// rename: the next event brings the new file.
				continue
			}
			d.reload("config file changed", true)
		case <-quit:
			return
		}
	}
}
