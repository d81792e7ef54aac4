package cli

import (
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
)

// envVar names the environment variable that can set a flag, so that a
// systemd unit or container can configure fcgi-wrap without arguments.
func envVar(flag string) []string {
	return []string{"FCGI_WRAP_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

const (
	catListen   = "Listening"
	catScripts  = "Scripts"
	catPool     = "Process pool and deadlines"
	catProtocol = "FastCGI limits"
	catSecurity = "Security"
	catLogging  = "Logging and monitoring"
	catConfig   = "Configuration"
)

// serveFlags are wrapped by altsrc so that every flag can also come from
// the --config file under the same name; the command line wins.
func serveFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Category: catConfig, EnvVars: envVar("config"), TakesFile: true,
			Usage: "read settings from this YAML `FILE` (keys are flag names); reloaded on SIGHUP and when it changes"},

		altsrc.NewStringFlag(&cli.StringFlag{Name: "pid-file", Category: catConfig, EnvVars: envVar("pid-file"), TakesFile: true,
			Usage: "write fcgi-wrap's pid to this `PATH` (removed on exit)"}),

		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "socket", Aliases: []string{"s"}, Category: catListen, EnvVars: envVar("socket"),
			Usage: "listen on `URL`: unix:/path, /path, ./path, tcp:host:port (a socket for each address of host), tcp:*:port (every address), " +
				"tcp4:... or tcp6:[addr]:port; port may be a name from /etc/services (repeatable); " +
				"without it, accept on a socket passed as fd 0 or by systemd"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "socket-mode", Category: catListen, EnvVars: envVar("socket-mode"), Value: "0660",
			Usage: "permissions of unix sockets fcgi-wrap creates, in octal"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "socket-owner", Category: catListen, EnvVars: envVar("socket-owner"),
			Usage: "owner of unix sockets fcgi-wrap creates, as `USER[:GROUP]` or :GROUP; with --user, by default that user and its group"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "allow-from", Category: catListen, EnvVars: envVar("allow-from"),
			Usage: "accept TCP connections only from this `CIDR` (repeatable; FCGI_WEB_SERVER_ADDRS is honoured too)"}),

		altsrc.NewStringFlag(&cli.StringFlag{Name: "stderr", Category: catScripts, EnvVars: envVar("stderr"), Value: "log",
			Usage: "where scripts' stderr goes: log (fcgi-wrap's log, tagged per request), fcgi (FCGI_STDERR to the web server), both, or discard"}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "stderr-to-fcgi", Aliases: []string{"f"}, Category: catScripts, EnvVars: envVar("stderr-to-fcgi"),
			Usage: "send scripts' stderr to the web server as FCGI_STDERR (same as --stderr fcgi; fcgiwrap's -f)"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "env", Category: catScripts, EnvVars: envVar("env"),
			Usage: "add `K=V` to every script's environment (repeatable)"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "pass-env", Category: catScripts, EnvVars: envVar("pass-env"),
			Usage: "copy this variable (`NAME` or glob) from fcgi-wrap's own environment to scripts (repeatable)"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "drop-param", Category: catScripts, EnvVars: envVar("drop-param"),
			Usage: "never pass this request param (`NAME` or glob, e.g. HTTP_AUTHORIZATION) to scripts (repeatable)"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "interpreter", Category: catScripts, EnvVars: envVar("interpreter"),
			Usage: "run each script whose name ends in EXT as PROGRAM SCRIPT, given as `EXT=PROGRAM` (e.g. .php=/usr/bin/php-cgi); such scripts need not be executable (repeatable)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "spool-dir", Category: catScripts, EnvVars: envVar("spool-dir"), TakesFile: true, DefaultText: "the system's temp dir",
			Usage: "`DIR` for the unlinked files that request bodies without CONTENT_LENGTH (chunked uploads) are read into before their script starts"}),

		altsrc.NewIntFlag(&cli.IntFlag{Name: "workers", Aliases: []string{"c"}, Category: catPool, EnvVars: envVar("workers"), DefaultText: "4 x CPUs",
			Usage: "scripts that may run at once; 0 means 4 per CPU"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "queue", Category: catPool, EnvVars: envVar("queue"), Value: 1024,
			Usage: "requests that may wait for a free worker; past it they get 503"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "queue-timeout", Category: catPool, EnvVars: envVar("queue-timeout"), Value: 30 * time.Second,
			Usage: "longest wait for a free worker before a 503"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "timeout", Category: catPool, EnvVars: envVar("timeout"),
			Usage: "wall time for a whole request; 0 means none (long git clones work)"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "header-timeout", Category: catPool, EnvVars: envVar("header-timeout"), Value: 60 * time.Second,
			Usage: "time for a script to finish its response head; past it the client gets 504; 0 means none"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "kill-grace", Category: catPool, EnvVars: envVar("kill-grace"), Value: 5 * time.Second,
			Usage: "on any kill, time between SIGTERM and SIGKILL to the script's process group"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "exit-drain", Category: catPool, EnvVars: envVar("exit-drain"), Value: 2 * time.Second,
			Usage: "after a script exits, end its response after this much silence even if a background child still holds its stdout (at least 20ms)"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "shutdown-timeout", Category: catPool, EnvVars: envVar("shutdown-timeout"), Value: 30 * time.Second,
			Usage: "on SIGTERM/SIGINT, time running requests get to finish before they are killed"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "drain-delay", Category: catPool, EnvVars: envVar("drain-delay"),
			Usage: "on SIGTERM/SIGINT, keep accepting this long with the ping page (--ping-path) answering 503, so that balancers' health checks take the instance out before it stops accepting; 0 means stop accepting at once"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "send-timeout", Category: catPool, EnvVars: envVar("send-timeout"), Value: 60 * time.Second,
			Usage: "a web server that reads nothing of a response for this long is treated as gone and the script is killed; 0 means never"}),

		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-conns", Category: catProtocol, EnvVars: envVar("max-conns"), Value: 1024,
			Usage: "connections open at once (FCGI_MAX_CONNS); more are closed at accept"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-reqs", Category: catProtocol, EnvVars: envVar("max-reqs"), Value: 1024,
			Usage: "requests in progress at once over all connections (FCGI_MAX_REQS); more get FCGI_OVERLOADED"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-params", Category: catProtocol, EnvVars: envVar("max-params"), Value: 1 << 20,
			Usage: "`BYTES` of FastCGI params per request; more ends the connection"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-param-count", Category: catProtocol, EnvVars: envVar("max-param-count"), Value: 4096,
			Usage: "FastCGI params (name-value pairs) per request; more ends the connection"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "params-timeout", Category: catProtocol, EnvVars: envVar("params-timeout"), Value: 30 * time.Second,
			Usage: "time from a request's BEGIN to the end of its params (web servers send both at once); past it the connection is closed"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "idle-timeout", Category: catProtocol, EnvVars: envVar("idle-timeout"), Value: 5 * time.Minute,
			Usage: "close a connection with no request in progress after this long; 0 means never"}),
		altsrc.NewInt64Flag(&cli.Int64Flag{Name: "max-body", Category: catProtocol, EnvVars: envVar("max-body"),
			Usage: "largest request body in `BYTES`; larger gets 413; 0 means no limit"}),

		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "root", Category: catSecurity, EnvVars: envVar("root"),
			Usage: "scripts named by the web server must lie inside this `DIR` after resolving symlinks (repeatable)"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "allow", Aliases: []string{"p"}, Category: catSecurity, EnvVars: envVar("allow"),
			Usage: "run only scripts whose absolute path matches this `PATTERN` (exact path or glob, starting with /; repeatable; fcgiwrap's -p)"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "ext", Category: catSecurity, EnvVars: envVar("ext"),
			Usage: "run only scripts whose names end in one of these `EXTENSIONS` (comma-separated, e.g. .cgi,.pl)"}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "no-strict-perms", Category: catSecurity, EnvVars: envVar("no-strict-perms"),
			Usage: "run scripts that are setuid/setgid, writable by group or others, or in a directory anyone may write"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "rlimit", Category: catSecurity, EnvVars: envVar("rlimit"),
			Usage: "resource limit for every script, `NAME=VALUE` (nofile, nproc, as, cpu, fsize, core; repeatable)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "user", Category: catSecurity, EnvVars: envVar("user"),
			Usage: "when started as root, bind the sockets and open the logs, then run as this `USER`; running as USER already, nothing changes"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "group", Category: catSecurity, EnvVars: envVar("group"),
			Usage: "when started as root, run as this `GROUP` (default: the user's primary group)"}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "allow-root", Category: catSecurity, EnvVars: envVar("allow-root"),
			Usage: "allow scripts to run as root"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "cgroup", Category: catSecurity, EnvVars: envVar("cgroup"), Value: "auto",
			Usage: "contain each script in a cgroup v2 of its own, so that its kill reaches descendants that called setsid: " +
				"auto (in fcgi-wrap's own cgroup when it is writable, e.g. systemd Delegate=yes; else process groups), off, or a cgroup2 `DIR` to work under"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "cgroup-limit", Category: catSecurity, EnvVars: envVar("cgroup-limit"),
			Usage: "write `KEY=VALUE` into each script's cgroup before it starts, e.g. memory.max=256M, pids.max=64, cpu.max=\"50000 100000\" " +
				"(repeatable; start-up fails if the controller is not delegated)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "run-as", Category: catSecurity, EnvVars: envVar("run-as"),
			Usage: "owner: run each script as its file's owner and that user's groups, like suexec (needs --user when started as root, and --root without SCRIPT)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "min-uid", Category: catSecurity, EnvVars: envVar("min-uid"), Value: 1000,
			Usage: "with --run-as owner, refuse scripts whose owner's uid is below this"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "min-gid", Category: catSecurity, EnvVars: envVar("min-gid"), Value: 1000,
			Usage: "with --run-as owner, refuse scripts whose owner's primary gid is below this"}),

		altsrc.NewStringFlag(&cli.StringFlag{Name: "log-level", Category: catLogging, EnvVars: envVar("log-level"), Value: "info",
			Usage: "trace, debug, info, warn or error"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "log-format", Category: catLogging, EnvVars: envVar("log-format"), Value: "text",
			Usage: "text or json, for the log and the access log"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "log-file", Category: catLogging, EnvVars: envVar("log-file"), TakesFile: true,
			Usage: "write the log to this `PATH` instead of stderr; reopened on SIGUSR1 (a file fcgi-wrap creates belongs to --user)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "access-log", Category: catLogging, EnvVars: envVar("access-log"), TakesFile: true,
			Usage: "write one line per request to this `PATH` (- for stdout); text, or JSON with --log-format json; reopened on SIGUSR1"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "status-path", Category: catLogging, EnvVars: envVar("status-path"),
			Usage: "answer requests for this `PATH` (SCRIPT_NAME or DOCUMENT_URI, e.g. /fcgi-status) with a php-fpm style status page; ?full lists running scripts, ?json gives JSON"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "ping-path", Category: catLogging, EnvVars: envVar("ping-path"),
			Usage: "answer requests for this `PATH` (e.g. /fcgi-ping) with \"pong\""}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "metrics-listen", Category: catLogging, EnvVars: envVar("metrics-listen"),
			Usage: "serve Prometheus metrics over HTTP at `ADDR` (e.g. 127.0.0.1:9101) under /metrics"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "slow-after", Category: catLogging, EnvVars: envVar("slow-after"),
			Usage: "log a warning for each request still running after this long; 0 means never"}),
	}
}
