// Package cli is fcgi-wrap's command line: the flags (also read from the
// environment and the --config file), the settings built from them, and
// the serve, request and check commands.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/fcgi-wrap/fcgi-wrap/internal/daemon"
)

// Main runs the command line in os.Args and exits with its status.
func Main() {
	// Each command handles its own signals: serve treats a second SIGTERM
	// as "kill now", which a context cannot express.
	app := NewApp()
	forCheck(app, os.Args)
	if err := app.RunContext(context.Background(), os.Args); err != nil {
		// cli.Exit errors were already printed and exited by urfave's
		// handler; anything reaching here is a plain runtime failure.
		fmt.Fprintln(os.Stderr, "fcgi-wrap:", err)
		os.Exit(1)
	}
}

// NewApp builds the whole command line; the man page is generated from it.
func NewApp() *cli.App {
	return &cli.App{
		Name:      "fcgi-wrap",
		Usage:     "run CGI scripts for a web server over FastCGI",
		UsageText: "fcgi-wrap [flags] [SCRIPT]\nfcgi-wrap request [flags] PATH[?QUERY]\nfcgi-wrap check [flags] [SCRIPT]",
		Description: "fcgi-wrap accepts FastCGI requests from a web server (nginx, lighttpd, Apache, Caddy, HAProxy, h2o) " +
			"and answers each by running a CGI program in its own process group, streaming the request body to it " +
			"and its output back while it runs.\n\n" +
			"With SCRIPT every request runs that one program. Without it the web server names the program with " +
			"SCRIPT_FILENAME, or DOCUMENT_ROOT and SCRIPT_NAME. Without --socket fcgi-wrap accepts on a listening " +
			"socket passed as file descriptor 0 (lighttpd bin-path, spawn-fcgi) or by systemd socket activation.",
		Version:                versionText(),
		HideVersion:            true, // --version is ours: urfave's printer is a package-level variable
		HideHelpCommand:        true,
		UseShortOptionHandling: true,
		Flags:                  append(serveFlags(), versionFlag),
		Before: func(c *cli.Context) error {
			if c.Bool("version") {
				fmt.Fprintln(c.App.Writer, "fcgi-wrap", c.App.Version)
				return cli.Exit("", 0)
			}
			if err := loadConfigFile(c); err != nil {
				return usageError("%v", err)
			}
			return nil
		},
		Action: serveAction,
		Commands: []*cli.Command{
			requestCommand(),
			checkCommand(),
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError("%v", err)
		},
	}
}

func serveAction(c *cli.Context) error {
	s, err := settingsFrom(c)
	if err != nil {
		return usageError("%v", err)
	}
	args := append([]string(nil), os.Args...)
	err = daemon.Run(s, daemon.Options{
		ConfigPath: c.String("config"),
		Reload:     func() (*daemon.Settings, error) { return reparse(args) },
		Version:    c.App.Version,
	})
	var usage *daemon.UsageError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &usage):
		return usageError("%v", err)
	}
	return runtimeError("%v", err)
}

// versionFlag prints "fcgi-wrap 0.3.1 (commit abc1234, go1.26.2)".
var versionFlag = &cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version, commit and Go version, then exit"}

// usageError is what every bad-arguments path returns: exit code 2.
func usageError(format string, args ...any) error {
	return cli.Exit("fcgi-wrap: "+fmt.Sprintf(format, args...), 2)
}

// runtimeError is exit code 1: the arguments were fine but something failed.
func runtimeError(format string, args ...any) error {
	return cli.Exit("fcgi-wrap: "+fmt.Sprintf(format, args...), 1)
}
