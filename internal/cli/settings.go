package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fcgi-wrap/fcgi-wrap/cgienv"
	"github.com/fcgi-wrap/fcgi-wrap/pool"
	"github.com/fcgi-wrap/fcgi-wrap/spawner"
)

// settings is everything the serve command was told, checked and in the
// types the packages want. A reload builds a new one and swaps it in, so a
// request always sees one consistent set.
type settings struct {
	script string // absolute; "" lets the web server name the script

	sockets     []string
	socketMode  os.FileMode
	socketOwner string
	allowFrom   []string

	stderrToLog, stderrToFCGI bool

	resolve cgienv.ResolveOptions
	env     cgienv.EnvPolicy
	rlimits []spawner.Rlimit

	pool            pool.Config
	timeout         time.Duration // 0: none
	headerTimeout   time.Duration // 0: none
	killGrace       time.Duration
	exitDrain       time.Duration
	shutdownTimeout time.Duration
	sendTimeout     time.Duration // 0: none

	maxConns, maxReqs, maxParams int
	maxParamCount                int
	paramsTimeout, idleTimeout   time.Duration // 0: none
	maxBody                      int64         // 0: no limit

	user, group string
	allowRoot   bool

	logLevel, logFormat, logFile string
	accessLog                    string
	statusPath, pingPath         string
	metricsListen                string
	slowAfter                    time.Duration // 0: never
}

// minExitDrain is the shortest --exit-drain: long enough for a read to see
// what a script left in its stdout pipe.
const minExitDrain = 20 * time.Millisecond

func settingsFrom(c *cli.Context) (*settings, error) {
	s := &settings{
		sockets:         c.StringSlice("socket"),
		socketOwner:     c.String("socket-owner"),
		allowFrom:       c.StringSlice("allow-from"),
		killGrace:       c.Duration("kill-grace"),
		timeout:         c.Duration("timeout"),
		headerTimeout:   c.Duration("header-timeout"),
		exitDrain:       c.Duration("exit-drain"),
		shutdownTimeout: c.Duration("shutdown-timeout"),
		sendTimeout:     c.Duration("send-timeout"),
		maxConns:        c.Int("max-conns"),
		maxReqs:         c.Int("max-reqs"),
		maxParams:       c.Int("max-params"),
		maxParamCount:   c.Int("max-param-count"),
		paramsTimeout:   c.Duration("params-timeout"),
		idleTimeout:     c.Duration("idle-timeout"),
		maxBody:         c.Int64("max-body"),
		user:            c.String("user"),
		group:           c.String("group"),
		allowRoot:       c.Bool("allow-root"),
		logLevel:        c.String("log-level"),
		logFormat:       c.String("log-format"),
		logFile:         c.String("log-file"),
		accessLog:       c.String("access-log"),
		statusPath:      c.String("status-path"),
		pingPath:        c.String("ping-path"),
		metricsListen:   c.String("metrics-listen"),
		slowAfter:       c.Duration("slow-after"),
		pool: pool.Config{
			Workers:      c.Int("workers"),
			Queue:        c.Int("queue"),
			QueueTimeout: c.Duration("queue-timeout"),
		},
	}

	if s.pool.Workers == 0 {
		s.pool.Workers = 4 * runtime.NumCPU()
	}
	switch c.NArg() {
	case 0:
	case 1:
		script, err := checkFixedScript(c.Args().First())
		if err != nil {
			return nil, err
		}
		s.script = script
	default:
		return nil, fmt.Errorf("one SCRIPT at most, got %d arguments: %q", c.NArg(), c.Args().Slice())
	}

	for _, raw := range s.sockets {
		if _, err := parseSocketURL(raw); err != nil {
			return nil, err
		}
	}
	mode, err := strconv.ParseUint(c.String("socket-mode"), 8, 32)
	if err != nil || mode > 0o777 {
		return nil, fmt.Errorf("--socket-mode %q: want an octal mode such as 0660", c.String("socket-mode"))
	}
	s.socketMode = os.FileMode(mode)

	switch c.String("stderr") {
	case "log":
		s.stderrToLog = true
	case "fcgi":
		s.stderrToFCGI = true
	case "both":
		s.stderrToLog, s.stderrToFCGI = true, true
	case "discard":
	default:
		return nil, fmt.Errorf("--stderr %q: want log, fcgi, both or discard", c.String("stderr"))
	}
	if c.Bool("stderr-to-fcgi") {
		s.stderrToLog, s.stderrToFCGI = false, true
	}

	switch s.logFormat {
	case "text", "json":
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", s.logFormat)
	}
	if _, err := parseLevel(s.logLevel); err != nil {
		return nil, err
	}

	for _, check := range []struct {
		name string
		bad  bool
	}{
		{"--workers must be at least 1", s.pool.Workers < 1},
		{"--queue must not be negative", s.pool.Queue < 0},
		{"--max-conns must not be negative", s.maxConns < 0},
		{"--max-reqs must not be negative", s.maxReqs < 0},
		{"--max-params must be at least 1024", s.maxParams < 1024},
		{"--max-body must not be negative", s.maxBody < 0},
		{"--max-param-count must be at least 64", s.maxParamCount < 64},
		{"--status-path and --ping-path must start with /", (s.statusPath != "" && s.statusPath[0] != '/') || (s.pingPath != "" && s.pingPath[0] != '/')},
		{"durations must not be negative", s.slowAfter < 0 || s.timeout < 0 || s.headerTimeout < 0 || s.killGrace < 0 ||
			s.exitDrain < 0 || s.shutdownTimeout < 0 || s.paramsTimeout < 0 || s.idleTimeout < 0 || s.sendTimeout < 0 || s.pool.QueueTimeout < 0},
	} {
		if check.bad {
			return nil, fmt.Errorf("%s", check.name)
		}
	}

	// A read whose deadline has passed does not look at the pipe at all,
	// so "no drain" would lose output a script wrote just before exiting.
	if s.exitDrain < minExitDrain {
		s.exitDrain = minExitDrain
	}

	s.resolve = cgienv.ResolveOptions{
		FixedScript: s.script,
		Allow:       c.StringSlice("allow"),
		StrictPerms: !c.Bool("no-strict-perms"),
	}
	for _, root := range c.StringSlice("root") {
		abs, err := filepath.Abs(root)
		if err != nil {
			return nil, fmt.Errorf("--root %q: %v", root, err)
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("--root %q: not a directory", root)
		}
		s.resolve.Roots = append(s.resolve.Roots, abs)
	}
	for _, list := range c.StringSlice("ext") {
		for _, ext := range strings.Split(list, ",") {
			if ext = strings.TrimSpace(ext); ext != "" {
				if !strings.HasPrefix(ext, ".") {
					ext = "." + ext
				}
				s.resolve.Exts = append(s.resolve.Exts, ext)
			}
		}
	}

	s.env = cgienv.EnvPolicy{
		PassEnv:    c.StringSlice("pass-env"),
		DropParams: c.StringSlice("drop-param"),
		Wrapper:    os.Environ(),
	}
	for _, kv := range c.StringSlice("env") {
		if name, _, ok := strings.Cut(kv, "="); !ok || name == "" {
			return nil, fmt.Errorf("--env %q: want NAME=VALUE", kv)
		}
		s.env.Fixed = append(s.env.Fixed, kv)
	}
	for _, spec := range c.StringSlice("rlimit") {
		limit, err := spawner.ParseRlimit(spec)
		if err != nil {
			return nil, fmt.Errorf("--rlimit %q: %v", spec, err)
		}
		s.rlimits = append(s.rlimits, limit)
	}
	return s, nil
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
