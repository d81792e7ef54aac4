package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
	"gopkg.in/yaml.v3"
)

// loadConfigFile applies --config for the commands that take it: every
// flag may also be a key of the YAML file, and the command line and
// environment win over it (altsrc skips flags that are already set).
func loadConfigFile(c *cli.Context) error {
	path := c.String("config")
	if path == "" {
		return nil
	}
	if err := checkConfigKeys(path, c.Command.Flags, c.App.Flags); err != nil {
		return err
	}
	source, err := altsrc.NewYamlSourceFromFile(path)
	if err != nil {
		return fmt.Errorf("--config %s: %v", path, err)
	}
	flags := c.Command.Flags
	if len(flags) == 0 {
		flags = c.App.Flags
	}
	if err := altsrc.ApplyInputSourceValues(c, source, flags); err != nil {
		return fmt.Errorf("--config %s: %v", path, err)
	}
	return nil
}

// checkConfigKeys rejects a file with a key that is not a flag: altsrc
// would silently ignore a misspelt "wokers: 8".
func checkConfigKeys(path string, flagSets ...[]cli.Flag) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %v", err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("--config %s: not valid YAML: %v", path, err)
	}
	known := map[string]bool{}
	for _, flags := range flagSets {
		for _, f := range flags {
			for _, name := range f.Names() {
				known[name] = true
			}
		}
	}
	var unknown []string
	for key := range doc {
		if !known[key] || key == "config" {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("--config %s: unknown setting(s) %s (keys are the long flag names, e.g. workers: 8)",
			path, strings.Join(unknown, ", "))
	}
	return nil
}

// reparse builds settings again from the original command line and the
// config file as it is now, exactly as at start, so a reload can never
// disagree with a restart.
func reparse(args []string) (*settings, error) {
	var s *settings
	var parseErr error
	app := newApp()
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	app.ExitErrHandler = func(*cli.Context, error) {}
	app.Commands = nil
	app.Action = func(c *cli.Context) error {
		s, parseErr = settingsFrom(c)
		return parseErr
	}
	if err := app.Run(args); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("configuration not read")
	}
	return s, nil
}

// reload applies a changed configuration to new requests. Running
// requests keep the settings they started with; connections stay open.
func (d *daemon) reload(why string) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	old := d.handler.settings.Load()
	next, err := reparse(d.args)
	if err != nil {
		d.log.Error("configuration rejected; keeping the old settings", "trigger", why, "error", err)
		return
	}
	for _, fixed := range []struct {
		name    string
		changed bool
	}{
		{"socket", !slices.Equal(old.sockets, next.sockets)},
		{"socket-mode", old.socketMode != next.socketMode},
		{"socket-owner", old.socketOwner != next.socketOwner},
		{"user", old.user != next.user},
		{"group", old.group != next.group},
		{"script", old.script != next.script},
		{"max-conns", old.maxConns != next.maxConns},
		{"max-reqs", old.maxReqs != next.maxReqs},
		{"max-params", old.maxParams != next.maxParams},
		{"max-param-count", old.maxParamCount != next.maxParamCount},
		{"params-timeout", old.paramsTimeout != next.paramsTimeout},
		{"idle-timeout", old.idleTimeout != next.idleTimeout},
		{"send-timeout", old.sendTimeout != next.sendTimeout},
		{"log-file", old.logFile != next.logFile},
		{"log-format", old.logFormat != next.logFormat},
	} {
		if fixed.changed {
			d.log.Warn("setting changed but needs a restart to apply", "setting", fixed.name)
		}
	}
	// What needs a restart keeps its running value, so that the settings
	// the handler sees describe what is really in force.
	next.sockets, next.socketMode, next.socketOwner = old.sockets, old.socketMode, old.socketOwner
	next.user, next.group, next.script = old.user, old.group, old.script
	next.maxConns, next.maxReqs, next.maxParams, next.sendTimeout = old.maxConns, old.maxReqs, old.maxParams, old.sendTimeout
	next.maxParamCount, next.paramsTimeout, next.idleTimeout = old.maxParamCount, old.paramsTimeout, old.idleTimeout
	next.logFile, next.logFormat = old.logFile, old.logFormat
	next.resolve.FixedScript = old.resolve.FixedScript

	if err := d.setAllowFrom(next.allowFrom); err != nil {
		d.log.Error("configuration rejected; keeping the old settings", "trigger", why, "error", err)
		return
	}
	level, _ := parseLevel(next.logLevel)
	d.log.SetLevel(level)
	d.pool.Reconfigure(next.pool)
	d.handler.settings.Store(next)
	d.log.Info("configuration reloaded", "trigger", why, "workers", next.pool.Workers, "queue", next.pool.Queue)
}

// configDebounce collapses the burst of events an editor's save makes
// (write temp, rename over, chmod) into one reload.
const configDebounce = 100 * time.Millisecond

// watchConfig reloads when the config file changes on disk. It watches the
// directory, not the file: editors and config managers replace files by
// renaming a new one over them, which a watch on the old inode misses.
func (d *daemon) watchConfig() (stop func()) {
	if d.configPath == "" {
		return func() {}
	}
	path, err := filepath.Abs(d.configPath)
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
		reloads := make(chan struct{}, 1)
		debounce := time.AfterFunc(time.Hour, func() {
			select {
			case reloads <- struct{}{}:
			default:
			}
		})
		debounce.Stop()
		defer debounce.Stop()
		for {
			select {
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if filepath.Clean(ev.Name) != path || ev.Op == fsnotify.Chmod {
					continue
				}
				debounce.Reset(configDebounce)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				d.log.Warn("config watch error", "error", err)
			case <-reloads:
				if _, err := os.Stat(path); err != nil {
					// Removed, or between an editor's unlink and its
					// rename: the next event brings the new file.
					continue
				}
				d.reload("config file changed")
			case <-quit:
				return
			}
		}
	}()
	return func() {
		close(quit)
		w.Close()
		<-done
	}
}
