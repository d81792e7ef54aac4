// Command fcgi-wrap runs ordinary CGI programs (RFC 3875) for any web server
// that speaks FastCGI 1.0: one process per request, in its own process group,
// with the body streamed in and the output streamed out as it is produced.
package main

import (
	"github.com/fcgi-wrap/fcgi-wrap/internal/cli"
	"github.com/fcgi-wrap/fcgi-wrap/spawner"
)

func main() {
	// Scripts with --rlimit are started through this binary, which sets
	// the limits and then execs them.
	spawner.RunTrampolineIfAsked()
	cli.Main()
}
