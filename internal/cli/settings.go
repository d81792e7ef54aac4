package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fcgi-wrap/fcgi-wrap/cgienv"
	"github.com/fcgi-wrap/fcgi-wrap/internal/cgroup"
	"github.com/fcgi-wrap/fcgi-wrap/internal/daemon"
	"github.com/fcgi-wrap/fcgi-wrap/internal/gateway"
	"github.com/fcgi-wrap/fcgi-wrap/spawner"
)

// settingsFrom builds and checks the settings the serve and check
// commands were given. A reload builds them again the same way.
func settingsFrom(c *cli.Context) (*daemon.Settings, error) {
	st, err := startupFrom(c)
	if err != nil {
		return nil, err
	}
	live, err := liveFrom(c, st.Script)
	if err != nil {
		return nil, err
	}
	if st.RunAs == "owner" && st.Script == "" && len(live.Gateway.Resolve.Roots) == 0 {
		return nil, errors.New("--run-as owner needs --root: scripts named by the web server must lie in known directories")
	}
	return &daemon.Settings{Startup: *st, Live: *live}, nil
}

func startupFrom(c *cli.Context) (*daemon.Startup, error) {
	st := &daemon.Startup{
		Sockets:       c.StringSlice("socket"),
		SocketOwner:   c.String("socket-owner"),
		User:          c.String("user"),
		Group:         c.String("group"),
		AllowRoot:     c.Bool("allow-root"),
		PidFile:       c.String("pid-file"),
		LogFile:       c.String("log-file"),
		LogFormat:     c.String("log-format"),
		AccessLog:     c.String("access-log"),
		MetricsListen: c.String("metrics-listen"),
		MaxConns:      c.Int("max-conns"),
		MaxReqs:       c.Int("max-reqs"),
		MaxParams:     c.Int("max-params"),
		MaxParamCount: c.Int("max-param-count"),
		ParamsTimeout: c.Duration("params-timeout"),
		IdleTimeout:   c.Duration("idle-timeout"),
		SendTimeout:   c.Duration("send-timeout"),
		Cgroup:        c.String("cgroup"),
		CgroupLimits:  c.StringSlice("cgroup-limit"),
		RunAs:         c.String("run-as"),
		MinUID:        c.Int("min-uid"),
		MinGID:        c.Int("min-gid"),
	}
	if err := containRules(st); err != nil {
		return nil, err
	}
	switch c.NArg() {
	case 0:
	case 1:
		script, err := checkFixedScript(c.Args().First())
		if err != nil {
			return nil, err
		}
		st.Script = script
	default:
		return nil, fmt.Errorf("one SCRIPT at most, got %d arguments: %q", c.NArg(), c.Args().Slice())
	}
	for _, raw := range st.Sockets {
		if _, err := daemon.ParseSocketURL(raw); err != nil {
			return nil, err
		}
	}
	mode, err := strconv.ParseUint(c.String("socket-mode"), 8, 32)
	if err != nil || mode > 0o777 {
		return nil, fmt.Errorf("--socket-mode %q: want an octal mode such as 0660", c.String("socket-mode"))
	}
	st.SocketMode = os.FileMode(mode)
	switch st.LogFormat {
	case "text", "json":
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", st.LogFormat)
	}
	return st, firstBad(
		check{"--max-conns must not be negative", st.MaxConns < 0},
		check{"--max-reqs must not be negative", st.MaxReqs < 0},
		check{"--max-params must be at least 1024", st.MaxParams < 1024},
		check{"--max-param-count must be at least 64", st.MaxParamCount < 64},
		check{"durations must not be negative", st.ParamsTimeout < 0 || st.IdleTimeout < 0 || st.SendTimeout < 0},
	)
}

func liveFrom(c *cli.Context, script string) (*daemon.Live, error) {
	live := &daemon.Live{
		AllowFrom:       c.StringSlice("allow-from"),
		LogLevel:        c.String("log-level"),
		ShutdownTimeout: c.Duration("shutdown-timeout"),
		DrainDelay:      c.Duration("drain-delay"),
	}
	live.Pool.Workers = c.Int("workers")
	live.Pool.Queue = c.Int("queue")
	live.Pool.QueueTimeout = c.Duration("queue-timeout")
	if live.Pool.Workers == 0 {
		live.Pool.Workers = 4 * runtime.NumCPU()
	}
	if _, err := daemon.ParseLevel(live.LogLevel); err != nil {
		return nil, err
	}
	g := &live.Gateway
	g.Timeout = c.Duration("timeout")
	g.HeaderTimeout = c.Duration("header-timeout")
	g.KillGrace = c.Duration("kill-grace")
	g.ExitDrain = c.Duration("exit-drain")
	g.MaxBody = c.Int64("max-body")
	g.StatusPath, g.PingPath = c.String("status-path"), c.String("ping-path")
	g.SlowAfter = c.Duration("slow-after")
	if err := stderrRoute(c, g); err != nil {
		return nil, err
	}
	err := firstBad(
		check{"--workers must be at least 1", live.Pool.Workers < 1},
		check{"--queue must not be negative", live.Pool.Queue < 0},
		check{"--max-body must not be negative", g.MaxBody < 0},
		check{"--status-path and --ping-path must start with /", badPagePath(g.StatusPath) || badPagePath(g.PingPath)},
		check{"durations must not be negative", g.SlowAfter < 0 || g.Timeout < 0 || g.HeaderTimeout < 0 || g.KillGrace < 0 ||
			g.ExitDrain < 0 || live.ShutdownTimeout < 0 || live.DrainDelay < 0 || live.Pool.QueueTimeout < 0},
	)
	if err == nil {
		err = scriptRules(c, g, script)
	}
	return live, err
}

// containRules checks --cgroup, --cgroup-limit and --run-as as written;
// what the system allows is for the daemon to find out.
func containRules(st *daemon.Startup) error {
	if st.Cgroup != "" && st.Cgroup != "auto" && st.Cgroup != "off" && !filepath.IsAbs(st.Cgroup) {
		return fmt.Errorf("--cgroup %q: want auto, off or an absolute cgroup2 directory", st.Cgroup)
	}
	for _, raw := range st.CgroupLimits {
		if _, err := cgroup.ParseLimit(raw); err != nil {
			return fmt.Errorf("--cgroup-limit: %v", err)
		}
	}
	if st.RunAs != "" && st.RunAs != "owner" {
		return fmt.Errorf("--run-as %q: want owner", st.RunAs)
	}
	return firstBad(check{"--min-uid and --min-gid must not be negative", st.MinUID < 0 || st.MinGID < 0})
}

// check is one validation: its message if bad.
type check struct {
	msg string
	bad bool
}

func firstBad(checks ...check) error {
	for _, c := range checks {
		if c.bad {
			return errors.New(c.msg)
		}
	}
	return nil
}

func badPagePath(p string) bool { return p != "" && p[0] != '/' }

func stderrRoute(c *cli.Context, g *gateway.Settings) error {
	switch c.String("stderr") {
	case "log":
		g.StderrToLog = true
	case "fcgi":
		g.StderrToFCGI = true
	case "both":
		g.StderrToLog, g.StderrToFCGI = true, true
	case "discard":
	default:
		return fmt.Errorf("--stderr %q: want log, fcgi, both or discard", c.String("stderr"))
	}
	if c.Bool("stderr-to-fcgi") {
		g.StderrToLog, g.StderrToFCGI = false, true
	}
	return nil
}

// scriptRules reads which scripts may run, with what environment and
// limits.
func scriptRules(c *cli.Context, g *gateway.Settings, script string) error {
	g.Resolve = cgienv.ResolveOptions{
		FixedScript: script,
		Allow:       c.StringSlice("allow"),
		StrictPerms: !c.Bool("no-strict-perms"),
	}
	for _, root := range c.StringSlice("root") {
		abs, err := filepath.Abs(root)
		if err != nil {
			return fmt.Errorf("--root %q: %v", root, err)
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return fmt.Errorf("--root %q: not a directory", root)
		}
		g.Resolve.Roots = append(g.Resolve.Roots, abs)
	}
	for _, list := range c.StringSlice("ext") {
		for _, ext := range strings.Split(list, ",") {
			if ext = strings.TrimSpace(ext); ext != "" {
				if !strings.HasPrefix(ext, ".") {
					ext = "." + ext
				}
				g.Resolve.Exts = append(g.Resolve.Exts, ext)
			}
		}
	}
	g.Env = cgienv.EnvPolicy{
		PassEnv:    c.StringSlice("pass-env"),
		DropParams: c.StringSlice("drop-param"),
		Wrapper:    os.Environ(),
	}
	for _, kv := range c.StringSlice("env") {
		if name, _, ok := strings.Cut(kv, "="); !ok || name == "" {
			return fmt.Errorf("--env %q: want NAME=VALUE", kv)
		}
		g.Env.Fixed = append(g.Env.Fixed, kv)
	}
	for _, spec := range c.StringSlice("interpreter") {
		in, err := cgienv.ParseInterpreter(spec)
		if err != nil {
			return fmt.Errorf("--interpreter %q: %v", spec, err)
		}
		g.Resolve.Interpreters = append(g.Resolve.Interpreters, in)
	}
	if g.SpoolDir = c.String("spool-dir"); g.SpoolDir != "" {
		if fi, err := os.Stat(g.SpoolDir); err != nil || !fi.IsDir() || !filepath.IsAbs(g.SpoolDir) {
			return fmt.Errorf("--spool-dir %q: not an absolute path to a directory", g.SpoolDir)
		}
	}
	for _, spec := range c.StringSlice("rlimit") {
		limit, err := spawner.ParseRlimit(spec)
		if err != nil {
			return fmt.Errorf("--rlimit %q: %v", spec, err)
		}
		g.Rlimits = append(g.Rlimits, limit)
	}
	return nil
}

// checkFixedScript makes SCRIPT absolute once, at start, so that a later
// chdir or a reload cannot change which program runs.
func checkFixedScript(arg string) (string, error) {
	abs, err := filepath.Abs(arg)
	if err != nil {
		return "", fmt.Errorf("SCRIPT %q: %v", arg, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case err != nil:
		return "", fmt.Errorf("SCRIPT %q: %v", arg, err)
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("SCRIPT %q is not a regular file", arg)
	case fi.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("SCRIPT %q is not executable (chmod +x it)", arg)
	}
	return abs, nil
}
