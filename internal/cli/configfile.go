package cli

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
	"gopkg.in/yaml.v3"

	"github.com/fcgi-wrap/fcgi-wrap/internal/daemon"
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
	if len(doc) == 0 {
		// A file truncated in place reads as empty: taking it would
		// silently drop every setting it held (root, ext, ...).
		return fmt.Errorf("--config %s: the file sets nothing (empty, or only comments); refusing it", path)
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
func reparse(args []string) (*daemon.Settings, error) {
	var s *daemon.Settings
	var parseErr error
	app := NewApp()
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
