// Command fcgi-wrap runs ordinary CGI programs (RFC 3875) for any web server
// that speaks FastCGI 1.0: one process per request, in its own process group,
// with the body streamed in and the output streamed out as it is produced.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/fcgi-wrap/fcgi-wrap/spawner"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "devel"

func main() {
	// Scripts with --rlimit are started through this binary, which sets
	// the limits and then execs them.
	spawner.RunTrampolineIfAsked()
	coarsenTimerSlack()
	leaveSignalsAtDefault()
	// Each command handles its own signals: serve treats a second SIGTERM
	// as "kill now", which a context cannot express.
	if err := newApp().RunContext(context.Background(), os.Args); err != nil {
		// cli.Exit errors were already printed and exited by urfave's
		// handler; anything reaching here is a plain runtime failure.
		fmt.Fprintln(os.Stderr, "fcgi-wrap:", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
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
		Version:                version,
		HideHelpCommand:        true,
		UseShortOptionHandling: true,
		Flags:                  serveFlags(),
		Before: func(c *cli.Context) error {
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

// usageError is what every bad-arguments path returns: exit code 2.
func usageError(format string, args ...any) error {
	return cli.Exit("fcgi-wrap: "+fmt.Sprintf(format, args...), 2)
}

// runtimeError is exit code 1: the arguments were fine but something failed.
func runtimeError(format string, args ...any) error {
	return cli.Exit("fcgi-wrap: "+fmt.Sprintf(format, args...), 1)
}
