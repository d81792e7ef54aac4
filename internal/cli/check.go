package cli

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fcgi-wrap/fcgi-wrap/internal/daemon"
)

// checkCommand is `nginx -t` for fcgi-wrap: everything serve would refuse
// at start, found without binding a socket or serving a request. It runs
// daemon.Validate, the very function serving runs before it binds, and
// exits 0 (with warnings, if any) or 1, whatever the cause.
func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "validate the flags, environment and --config file as serving would, then exit 0 (ok) or 1 (with what is wrong)",
		ArgsUsage: "[SCRIPT]",
		Flags:     serveFlags(),
		Before: func(c *cli.Context) error {
			if err := loadConfigFile(c); err != nil {
				return runtimeError("check failed: %v", err)
			}
			return nil
		},
		Action: checkAction,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return runtimeError("check failed: %v", err)
		},
	}
}

func checkAction(c *cli.Context) error {
	s, err := settingsFrom(c)
	if err != nil {
		return runtimeError("check failed: %v", err)
	}
	warnings, err := daemon.Validate(s)
	for _, w := range warnings {
		fmt.Fprintln(c.App.ErrWriter, "fcgi-wrap: warning:", w)
	}
	if err != nil {
		return runtimeError("check failed: %v", err)
	}
	fmt.Fprintln(c.App.Writer, "fcgi-wrap: configuration ok")
	return nil
}

// forCheck makes the top level report its own failures as check does
// when args run `check`. The top level reads its flags' environment
// variables and the FCGI_WRAP_CONFIG file before urfave gets to the
// command name, so a bad FCGI_WRAP_WORKERS would otherwise be a usage
// error (2) of serving, not a failed check (1).
func forCheck(app *cli.App, args []string) {
	if commandOf(app.Flags, args) != "check" {
		return
	}
	before := app.Before
	app.Before = func(c *cli.Context) error {
		if err := before(c); err != nil {
			return runtimeError("check failed: %s", strings.TrimPrefix(err.Error(), "fcgi-wrap: "))
		}
		return nil
	}
	app.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return runtimeError("check failed: %v", err)
	}
}

// commandOf finds the command name in args (args[0] is the program): the
// first argument that is neither a top-level flag nor a flag's value.
func commandOf(flags []cli.Flag, args []string) string {
	takesValue := map[string]bool{}
	for _, f := range flags {
		v, ok := f.(cli.DocGenerationFlag)
		for _, name := range f.Names() {
			takesValue[name] = ok && v.TakesValue()
		}
	}
	for i := 1; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			return ""
		case !strings.HasPrefix(arg, "-") || arg == "-":
			return arg
		case !strings.Contains(arg, "=") && takesValue[strings.TrimLeft(arg, "-")]:
			i++ // the flag's value
		}
	}
	return ""
}
