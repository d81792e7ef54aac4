package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

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
	flags := c.Command.Flags
	if len(flags) == 0 {
		flags = c.App.Flags
	}
	values, err := readConfigFile(path, flags)
	if err != nil {
		return err
	}
	if err := altsrc.ApplyInputSourceValues(c, altsrc.NewMapInputSource(path, values), flags); err != nil {
		return fmt.Errorf("--config %s: %v", path, err)
	}
	return nil
}

// readConfigFile reads the YAML mapping at path into the values altsrc
// wants, typed by each key's flag, so that a mistake is reported with its
// line: an unknown key (altsrc would silently ignore a misspelt
// "wokers: 8"), or a value of the wrong kind. A single value stands for a
// one-element list (socket: unix:/run/x.sock).
func readConfigFile(path string, flags []cli.Flag) (map[any]any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %v", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("--config %s: not valid YAML: %v", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind == yaml.MappingNode && len(doc.Content[0].Content) == 0 {
		// A file truncated in place reads as empty: taking it would
		// silently drop every setting it held (root, ext, ...).
		return nil, fmt.Errorf("--config %s: the file sets nothing (empty, or only comments); refusing it", path)
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("--config %s:%d: want settings as key: value lines", path, top.Line)
	}
	known := map[string]cli.Flag{}
	for _, f := range flags {
		for _, name := range f.Names() {
			known[name] = f
		}
	}
	delete(known, "config")
	values := map[any]any{}
	var unknown, bad []string
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, node := top.Content[i], top.Content[i+1]
		f, ok := known[key.Value]
		if !ok {
			unknown = append(unknown, fmt.Sprintf("%s (line %d)", key.Value, key.Line))
			continue
		}
		v, err := configValue(f, node)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%s:%d: %s: %v", path, node.Line, key.Value, err))
			continue
		}
		if v != nil {
			values[f.Names()[0]] = v
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("--config %s: unknown setting(s) %s (keys are the long flag names, e.g. workers: 8)",
			path, strings.Join(unknown, ", "))
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("--config %s", strings.Join(bad, "; "))
	}
	return values, nil
}

// configValue converts node to the type altsrc expects for f; nil for an
// empty value (the key is then as good as absent).
func configValue(f cli.Flag, node *yaml.Node) (any, error) {
	if node.Tag == "!!null" {
		return nil, nil
	}
	if _, list := f.(*altsrc.StringSliceFlag); list {
		items := []*yaml.Node{node}
		if node.Kind == yaml.SequenceNode {
			items = node.Content
		}
		var out []any
		for _, item := range items {
			if item.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("want a value or a list of values")
			}
			out = append(out, item.Value)
		}
		return out, nil
	}
	if node.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("want a single value, not a list or mapping")
	}
	switch f.(type) {
	case *altsrc.IntFlag:
		n, err := strconv.Atoi(node.Value)
		if err != nil {
			return nil, fmt.Errorf("want a whole number, got %q", node.Value)
		}
		return n, nil
	case *altsrc.Int64Flag:
		n, err := strconv.ParseInt(node.Value, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("want a whole number, got %q", node.Value)
		}
		return n, nil
	case *altsrc.BoolFlag:
		var b bool
		if err := node.Decode(&b); err != nil {
			return nil, fmt.Errorf("want true or false, got %q", node.Value)
		}
		return b, nil
	case *altsrc.DurationFlag:
		d, err := time.ParseDuration(node.Value)
		if err != nil {
			return nil, fmt.Errorf("want a duration such as 30s or 5m, got %q", node.Value)
		}
		return d, nil
	}
	return node.Value, nil
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
