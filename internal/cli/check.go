package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/fcgi-wrap/fcgi-wrap/internal/daemon"
)

// checkCommand is `nginx -t` for fcgi-wrap: everything serve would refuse
// at start, found without binding a socket or serving a request.
func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "validate the flags and --config file, then exit 0 (ok) or 1 (with what is wrong)",
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
			return runtimeError("%v", err)
		},
	}
}

func checkAction(c *cli.Context) error {
	s, err := settingsFrom(c)
	if err == nil {
		err = daemon.Check(s)
	}
	if err != nil {
		return runtimeError("check failed: %v", err)
	}
	fmt.Fprintln(c.App.Writer, "fcgi-wrap: configuration ok")
	return nil
}
